//! `--keep-on-failure`: how a person reaches a failed scenario's servers while they still run,
//! as commands ready to paste.

use super::LocalScenario;

impl LocalScenario {
    /// The servers' addresses and the files of the scenario, with `kubectl` and `curl`
    /// commands for what is usually asked first. No password: Loki itself is reached on its
    /// own port, where only the tenant header counts.
    pub fn how_to_reach(&self) -> String {
        let kubectl = format!(
            "{} --kubeconfig {}",
            self.tools.kubectl.display(),
            self.api.kubeconfig.display()
        );
        let tenant = self
            .deployment
            .as_ref()
            .map(|d| d.secret_value("X-SCOPE-ORGID"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "tenant-a".to_owned());
        let account = self
            .deployment
            .as_ref()
            .map_or("system:serviceaccount:otel:k8s-event-collector", |d| {
                d.service_account.as_str()
            });
        let loki = self.loki.url();
        let gateway = self.nginx.push_url(self.loki_mode);
        let dir = self.dir.display();
        format!(
            "the failed scenario's servers keep running until Ctrl-C:
  kube-apiserver  {api}   admin kubeconfig {kubeconfig}
  Loki            {loki}   tenant {tenant} (X-Scope-OrgID; no basic auth on this port)
  Loki's gateway  {gateway}   nginx, basic auth and TLS as the collector used it
  collector       http://{metrics}/metrics
  files           {dir}   (collector config, token, certificates, server logs)
try:
  {kubectl} get events -A
  {kubectl} auth can-i watch events --as {account}
  {kubectl} -n otel get secret,configmap,serviceaccount
  curl -sG -H 'X-Scope-OrgID: {tenant}' {loki}/loki/api/v1/query_range \\
    --data-urlencode 'query={{service_name=~\".+\"}}' --data-urlencode since=1h
  curl -s http://{metrics}/metrics | grep -v '^#'
",
            api = self.api.url,
            kubeconfig = self.api.kubeconfig.display(),
            metrics = self.metrics_address,
        )
    }
}
