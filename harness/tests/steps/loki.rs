//! Steps about Loki: its gateway's auth and TLS, its faults, and what it stores.

use std::time::Duration;

use cucumber::{given, then, when};
use harness::deployment::Deployment;
use harness::env::Environment;
use harness::scenario::{EVENTUALLY, SETTLE};
use harness::sim::loki::LokiConfig;
use harness::tls::TlsMode;

use super::{E2e, eventually, tail, workspace_root};

#[given("Loki requires basic auth and a tenant")]
async fn loki_auth(w: &mut E2e) -> Result<(), String> {
    // The gateway accepts the credentials of the Secret example in deploy/, as a platform team
    // configures both from the same values.
    let deployed = Deployment::load(&workspace_root(), "deploy")?;
    let (user, password) = (
        deployed.secret_value("USER"),
        deployed.secret_value("PASSWORD"),
    );
    match w.env().await? {
        Environment::Sim(sc) => {
            sc.loki_config = Some(LokiConfig::default().with_basic_auth(user, password));
            Ok(())
        }
        env => env.set_loki_basic_auth(&user, &password),
    }
}

#[given(expr = "Loki is served over TLS with a {string} certificate")]
async fn loki_tls(w: &mut E2e, mode: String) -> Result<(), String> {
    let mode = match mode.as_str() {
        "CaSigned" => TlsMode::CaSigned,
        "SelfSigned" => TlsMode::SelfSigned,
        "Expired" => TlsMode::Expired,
        "WrongHost" => TlsMode::WrongHost,
        "MutualTls" => TlsMode::MutualTls,
        other => return Err(format!("unknown TLS mode {other}")),
    };
    match w.env().await? {
        Environment::Sim(sc) => sc.loki_tls_mode = Some(mode),
        Environment::Local(sc) => sc.loki_mode = Some(mode),
    }
    Ok(())
}

#[given(expr = "Loki answers {int} to the next {int} pushes")]
async fn loki_fails(w: &mut E2e, status: u16, n: usize) -> Result<(), String> {
    w.env().await?.loki_fail_next(n, status, None).await
}

#[given(expr = "Loki answers 429 with Retry-After {int} to the next {int} pushes")]
async fn loki_rate_limits(w: &mut E2e, seconds: u64, n: usize) -> Result<(), String> {
    w.env().await?.loki_fail_next(n, 429, Some(seconds)).await
}

#[given("Loki is down")]
async fn loki_down(w: &mut E2e) -> Result<(), String> {
    w.env().await?.loki_down().await
}

#[when("Loki is up again")]
async fn loki_up(w: &mut E2e) -> Result<(), String> {
    w.env().await?.loki_up().await
}

#[given(expr = "Loki answers slowly, taking {int} second per push")]
async fn loki_slow(w: &mut E2e, seconds: u64) -> Result<(), String> {
    w.env().await?.loki_slow(Duration::from_secs(seconds)).await
}

/// What a "Loki stores" step counts.
enum Count {
    All,
    /// Entries whose line mentions this text.
    Matching(String),
    Tenant(String),
}

async fn count(w: &E2e, what: &Count) -> Result<usize, String> {
    let env = w.started()?;
    match what {
        Count::All => env.stored_count(None).await,
        Count::Matching(needle) => env.stored_count(Some(needle)).await,
        Count::Tenant(tenant) => env.stored_count_for(tenant).await,
    }
}

async fn context(w: &E2e) -> String {
    let Ok(env) = w.started() else {
        return String::new();
    };
    let answers: Vec<String> = env
        .pushes()
        .unwrap_or_default()
        .iter()
        .map(|p| match p.entries {
            Some(n) => format!("{} {n} entries", p.status),
            None => p.status.to_string(),
        })
        .collect();
    format!(
        "\n  pushes: {answers:?}\n  collector log:\n{}",
        tail(&env.log(), 15)
    )
}

/// Waits until the count reaches `n` (or the time runs out), watches a little longer for more,
/// then requires exactly `n`: "exactly once" must also fail on late duplicates.
async fn settles_at(w: &mut E2e, n: usize, what: &str, counted: Count) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    while count(w, &counted).await? < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let got = count(w, &counted).await?;
    if got == n {
        Ok(())
    } else {
        Err(format!(
            "Loki stores {got} entries {what}, expected {n}{}",
            context(w).await
        ))
    }
}

async fn exactly_for(w: &mut E2e, needle: &str, n: usize) -> Result<(), String> {
    settles_at(
        w,
        n,
        &format!("for {needle}"),
        Count::Matching(needle.to_owned()),
    )
    .await
}

#[then(expr = "Loki stores exactly {int} entry/entries for event {string}")]
async fn stores_exactly(w: &mut E2e, n: usize, name: String) -> Result<(), String> {
    exactly_for(w, &name, n).await
}

#[then(expr = "Loki stores no entry for event {string}")]
async fn stores_none(w: &mut E2e, name: String) -> Result<(), String> {
    exactly_for(w, &name, 0).await
}

#[then(expr = "Loki stores {int} entry/entries")]
async fn stores_total(w: &mut E2e, n: usize) -> Result<(), String> {
    settles_at(w, n, "in all", Count::All).await
}

#[then(expr = "Loki stores {int} entry/entries for tenant {string}")]
async fn stores_for_tenant(w: &mut E2e, n: usize, tenant: String) -> Result<(), String> {
    let what = format!("for tenant {tenant}");
    w.env().await?.expect_tenant(&tenant);
    settles_at(w, n, &what, Count::Tenant(tenant)).await
}

#[then(expr = "Loki stores each of the {int} events exactly once")]
async fn each_once(w: &mut E2e, n: usize) -> Result<(), String> {
    if w.created.len() != n {
        return Err(format!(
            "the scenario created {} events, not {n}",
            w.created.len()
        ));
    }
    stores_total(w, n).await?;
    let names: Vec<String> = w.created.iter().map(|(_, name)| name.clone()).collect();
    for name in names {
        let got = count(w, &Count::Matching(format!("\"{name}\""))).await?;
        if got != 1 {
            return Err(format!(
                "event {name} is stored {got} times{}",
                context(w).await
            ));
        }
    }
    Ok(())
}

#[then("Loki has received no push")]
async fn no_push(w: &mut E2e) -> Result<(), String> {
    tokio::time::sleep(SETTLE).await;
    let pushes = w.env().await?.pushes()?;
    if pushes.is_empty() {
        Ok(())
    } else {
        Err(format!("Loki received {} pushes", pushes.len()))
    }
}

#[then(expr = "Loki has received at most {int} pushes within {int} seconds")]
async fn at_most(w: &mut E2e, n: usize, seconds: u64) -> Result<(), String> {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let got = w.env().await?.pushes()?.len();
    if got <= n {
        Ok(())
    } else {
        Err(format!(
            "Loki received {got} pushes in {seconds}s: a retry storm"
        ))
    }
}

#[then("every push carried the basic auth user from the Secret")]
async fn pushes_user(w: &mut E2e) -> Result<(), String> {
    let env = w.env().await?;
    let user = env.deployment_mut()?.secret_value("USER");
    let pushes = env.pushes()?;
    let wrong: Vec<String> = pushes
        .iter()
        .filter(|p| p.user != user || !p.auth_ok)
        .map(|p| format!("user {:?} (accepted: {})", p.user, p.auth_ok))
        .collect();
    if pushes.is_empty() {
        Err("no push".into())
    } else if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "pushes without the Secret's credentials: {wrong:?}"
        ))
    }
}

#[then("every push carried the tenant from the Secret")]
async fn pushes_tenant(w: &mut E2e) -> Result<(), String> {
    let env = w.env().await?;
    let tenant = env.deployment_mut()?.secret.get("X-SCOPE-ORGID").cloned();
    let pushes = env.pushes()?;
    let wrong: Vec<Option<String>> = pushes
        .iter()
        .filter(|p| p.tenant != tenant)
        .map(|p| p.tenant.clone())
        .collect();
    if pushes.is_empty() {
        Err("no push".into())
    } else if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "pushes with another tenant: {wrong:?}, expected {tenant:?}"
        ))
    }
}

#[then(expr = "Loki received the retries at least {int} second(s) apart")]
async fn retries_apart(w: &mut E2e, seconds: u64) -> Result<(), String> {
    let pushes = w.sc().await?.loki()?.pushes();
    let times: Vec<_> = pushes.iter().map(|p| p.received_at).collect();
    for pair in times.windows(2) {
        let gap = pair[1].duration_since(pair[0]).unwrap_or_default();
        if gap < Duration::from_secs(seconds) {
            return Err(format!(
                "two pushes {gap:?} apart, Retry-After asked for {seconds}s"
            ));
        }
    }
    if times.len() < 2 {
        Err("fewer than 2 pushes: nothing was retried".into())
    } else {
        Ok(())
    }
}

#[then(expr = "the TLS gateway refused at least {int} handshake(s)")]
async fn refused(w: &mut E2e, n: usize) -> Result<(), String> {
    let env = w.env().await?;
    eventually(EVENTUALLY, || async {
        let (refused, seen) = env.refused_handshakes()?;
        if refused >= n {
            Ok(())
        } else {
            Err(format!("{refused} refused handshakes: {seen}"))
        }
    })
    .await
}

#[then(expr = "the stored streams match the snapshot {string}")]
async fn snapshot(w: &mut E2e, name: String) -> Result<(), String> {
    let text = normalize(&w.env().await?.stored_yaml().await?);
    let path = workspace_root().join("snapshots").join("payloads");
    let outcome = std::panic::catch_unwind(|| {
        insta::with_settings!({
            snapshot_path => path,
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name.as_str(), text);
        });
    });
    outcome.map_err(|_| format!("the stored streams differ from snapshots/payloads/{name}.snap (review with cargo insta review)"))
}

/// Replaces the times the API server stamps (now) by placeholders, so snapshots are stable.
pub fn normalize(text: &str) -> String {
    let go_time = regex::Regex::new(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? \+0000 UTC");
    let rfc3339 = regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z");
    let mut out = text.to_owned();
    if let Ok(re) = go_time {
        out = re.replace_all(&out, "<time>").into_owned();
    }
    if let Ok(re) = rfc3339 {
        out = re.replace_all(&out, "<time>").into_owned();
    }
    out
}
