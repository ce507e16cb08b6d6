//! The SDK's side of staff access control and the audit log: the server's
//! public signing keys.

use oriole_proto::PublicKeys;
use reqwest::Method;

use crate::{Client, ClientError};

impl Client {
    /// `GET /v1/keys`: the server's public signing keys (`audit` for the
    /// audit log's checkpoints, `receipt` for deletion receipts). Needs no
    /// session.
    pub async fn public_keys(&self) -> Result<PublicKeys, ClientError> {
        self.call(self.request(Method::GET, &["keys"])?).await
    }
}
