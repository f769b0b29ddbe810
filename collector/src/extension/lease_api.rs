//! The HTTP side of leader election: GET, POST and PUT of one Lease with kube's client, as
//! raw JSON; 404 and 409 told apart from other failures.

use crate::extension::lease::Lease;

/// Why one attempt to read or write the Lease failed (retried until `renew_deadline`).
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// 409: the Lease changed since it was read (another replica wrote it), or was created
    /// meanwhile.
    #[error("the Lease was changed by another replica (409 Conflict)")]
    Conflict,
    #[error("{0}")]
    Api(String),
}

/// Requests on the one Lease.
pub(super) struct LeaseApi {
    pub(super) client: kube::Client,
    /// `/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}`.
    pub(super) path: String,
    /// The collection, for a create.
    pub(super) collection: String,
    pub(super) name: String,
    pub(super) namespace: String,
}

impl LeaseApi {
    pub(super) fn new(client: kube::Client, namespace: &str, name: &str) -> LeaseApi {
        let collection = format!("/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases");
        LeaseApi {
            client,
            path: format!("{collection}/{name}"),
            collection,
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        }
    }

    /// The Lease; `None` when it does not exist yet.
    pub(super) async fn get(&self) -> Result<Option<Lease>, LeaseError> {
        let request = http::Request::get(&self.path).body(Vec::new());
        match self.send(request).await {
            Ok(text) => Lease::parse(&text).map(Some).map_err(LeaseError::Api),
            Err(Failed::NotFound) => Ok(None),
            Err(Failed::Other(e)) => Err(e),
        }
    }

    pub(super) async fn create(&self, lease: &serde_json::Value) -> Result<Lease, LeaseError> {
        let request = http::Request::post(&self.collection)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(lease).unwrap_or_default());
        self.write(request).await
    }

    pub(super) async fn update(&self, lease: &Lease) -> Result<Lease, LeaseError> {
        let request = http::Request::put(&self.path)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&lease.0).unwrap_or_default());
        self.write(request).await
    }

    async fn write(
        &self,
        request: Result<http::Request<Vec<u8>>, http::Error>,
    ) -> Result<Lease, LeaseError> {
        match self.send(request).await {
            Ok(text) => Lease::parse(&text).map_err(LeaseError::Api),
            Err(Failed::NotFound) => Err(LeaseError::Api(format!("{}: 404", self.path))),
            Err(Failed::Other(e)) => Err(e),
        }
    }

    async fn send(
        &self,
        request: Result<http::Request<Vec<u8>>, http::Error>,
    ) -> Result<String, Failed> {
        let request = request.map_err(|e| Failed::Other(LeaseError::Api(e.to_string())))?;
        match self.client.request_text(request).await {
            Ok(text) => Ok(text),
            Err(kube::Error::Api(status)) if status.code == 404 => Err(Failed::NotFound),
            // 409 on update (stale resourceVersion) or create (AlreadyExists): someone else won.
            Err(kube::Error::Api(status)) if status.code == 409 => {
                Err(Failed::Other(LeaseError::Conflict))
            }
            Err(kube::Error::Api(status)) => Err(Failed::Other(LeaseError::Api(format!(
                "Lease {}/{}: {} {}",
                self.namespace, self.name, status.code, status.message
            )))),
            Err(e) => Err(Failed::Other(LeaseError::Api(format!(
                "Lease {}/{}: {e}",
                self.namespace, self.name
            )))),
        }
    }
}

enum Failed {
    NotFound,
    Other(LeaseError),
}
