//! Steps about Loki: its gateway's auth and TLS, its faults, and what it stores.

use std::time::Duration;

use cucumber::{given, then, when};
use harness::deployment::Deployment;
use harness::scenario::{EVENTUALLY, SETTLE};
use harness::sim::loki::{AuthSeen, LokiConfig};
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
    w.sc().await?.loki_config = Some(LokiConfig::default().with_basic_auth(user, password));
    Ok(())
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
    w.sc().await?.loki_tls_mode = Some(mode);
    Ok(())
}

#[given(expr = "Loki answers {int} to the next {int} pushes")]
async fn loki_fails(w: &mut E2e, status: u16, n: usize) -> Result<(), String> {
    let sc = w.sc().await?;
    sc.ensure_loki().await?;
    sc.loki()?.fail_next(n, status, None);
    Ok(())
}

#[given(expr = "Loki answers 429 with Retry-After {int} to the next {int} pushes")]
async fn loki_rate_limits(w: &mut E2e, seconds: u64, n: usize) -> Result<(), String> {
    let sc = w.sc().await?;
    sc.ensure_loki().await?;
    sc.loki()?.fail_next(n, 429, Some(seconds));
    Ok(())
}

#[given("Loki is down")]
async fn loki_down(w: &mut E2e) -> Result<(), String> {
    let sc = w.sc().await?;
    sc.ensure_loki().await?;
    sc.loki()?.set_down(true);
    Ok(())
}

#[when("Loki is up again")]
async fn loki_up(w: &mut E2e) -> Result<(), String> {
    w.sc().await?.loki()?.set_down(false);
    Ok(())
}

#[given(expr = "Loki answers slowly, taking {int} second per push")]
async fn loki_slow(w: &mut E2e, seconds: u64) -> Result<(), String> {
    let sc = w.sc().await?;
    sc.ensure_loki().await?;
    sc.loki()?.set_delay(Duration::from_secs(seconds));
    Ok(())
}

/// Stored entries (all tenants) whose line mentions `needle`.
fn stored_matching(w: &E2e, needle: &str) -> Result<usize, String> {
    let sc = w.scenario.as_ref().ok_or("no scenario")?;
    let loki = sc.loki()?;
    Ok(loki
        .tenants()
        .iter()
        .flat_map(|t| loki.stored(t))
        .flat_map(|s| s.entries)
        .filter(|e| e.line.contains(needle))
        .count())
}

fn stored_total(w: &E2e) -> Result<usize, String> {
    let sc = w.scenario.as_ref().ok_or("no scenario")?;
    Ok(sc.loki()?.entry_counts().1)
}

fn context(w: &E2e) -> String {
    let Some(sc) = w.scenario.as_ref() else {
        return String::new();
    };
    let pushes = sc.loki.as_ref().map(|l| l.pushes()).unwrap_or_default();
    let answers: Vec<String> = pushes
        .iter()
        .map(|p| format!("{} {} entries", p.status, p.entry_count()))
        .collect();
    format!(
        "\n  pushes: {answers:?}\n  collector log:\n{}",
        tail(&sc.log(), 15)
    )
}

/// Waits until `count` reaches `n` (or the time runs out), watches a little longer for more,
/// then requires exactly `n`: "exactly once" must also fail on late duplicates.
async fn settles_at(
    w: &mut E2e,
    n: usize,
    what: &str,
    count: impl Fn(&E2e) -> Result<usize, String>,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    while count(w)? < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(SETTLE).await;
    let got = count(w)?;
    if got == n {
        Ok(())
    } else {
        Err(format!(
            "Loki stores {got} entries {what}, expected {n}{}",
            context(w)
        ))
    }
}

async fn exactly_for(w: &mut E2e, needle: &str, n: usize) -> Result<(), String> {
    let needle = needle.to_owned();
    settles_at(w, n, &format!("for {needle}"), move |w| {
        stored_matching(w, &needle)
    })
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
    settles_at(w, n, "in all", stored_total).await
}

#[then(expr = "Loki stores {int} entry/entries for tenant {string}")]
async fn stores_for_tenant(w: &mut E2e, n: usize, tenant: String) -> Result<(), String> {
    let what = format!("for tenant {tenant}");
    settles_at(w, n, &what, move |w| {
        let sc = w.scenario.as_ref().ok_or("no scenario")?;
        Ok(sc
            .loki()?
            .stored(&tenant)
            .iter()
            .map(|s| s.entries.len())
            .sum())
    })
    .await
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
        let got = stored_matching(w, &format!("\"{name}\""))?;
        if got != 1 {
            return Err(format!("event {name} is stored {got} times{}", context(w)));
        }
    }
    Ok(())
}

#[then("Loki has received no push")]
async fn no_push(w: &mut E2e) -> Result<(), String> {
    tokio::time::sleep(SETTLE).await;
    let pushes = w.sc().await?.loki()?.pushes();
    if pushes.is_empty() {
        Ok(())
    } else {
        Err(format!("Loki received {} pushes", pushes.len()))
    }
}

#[then(expr = "Loki has received at most {int} pushes within {int} seconds")]
async fn at_most(w: &mut E2e, n: usize, seconds: u64) -> Result<(), String> {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let got = w.sc().await?.loki()?.pushes().len();
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
    let sc = w.sc().await?;
    let user = sc.deployment_mut()?.secret_value("USER");
    let pushes = sc.loki()?.pushes();
    let wrong: Vec<String> = pushes
        .iter()
        .filter(|p| !matches!(&p.auth, AuthSeen::Basic { user: u } if *u == user) || !p.auth_ok)
        .map(|p| format!("{:?} (accepted: {})", p.auth, p.auth_ok))
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
    let sc = w.sc().await?;
    let tenant = sc.deployment_mut()?.secret.get("X-SCOPE-ORGID").cloned();
    let pushes = sc.loki()?.pushes();
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
    let sc = w.sc().await?;
    eventually(EVENTUALLY, || async {
        let tls = sc.loki_tls.as_ref().ok_or("Loki has no TLS gateway")?;
        let stats = tls.stats();
        let refused = stats.handshake_failures + stats.missing_client_certificate;
        if refused >= n {
            Ok(())
        } else {
            Err(format!("{refused} refused handshakes: {stats:?}"))
        }
    })
    .await
}

#[then(expr = "the stored streams match the snapshot {string}")]
async fn snapshot(w: &mut E2e, name: String) -> Result<(), String> {
    let text = normalize(&w.sc().await?.loki()?.stored_yaml());
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
fn normalize(text: &str) -> String {
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
