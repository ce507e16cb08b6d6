//! The SDK's side of a user's rights over their data: correct
//! (`PATCH /v1/me`), see (`GET /v1/me/data`), export (`GET /v1/me/export`)
//! and delete (`DELETE /v1/me`).

use std::time::Duration;

use oriole_proto::{DeleteAccount, MyData, Profile, SignedReceipt, UpdateProfile};
use reqwest::Method;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::client::checked;
use crate::error::transport_error;
use crate::{Client, ClientError};

/// An export may take long for a big account: it is streamed, so only a
/// stalled transfer should fail, not a long one.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(6 * 60 * 60);

impl Client {
    /// `PATCH /v1/me`: correct the profile. `None` keeps a field, `""`
    /// removes it.
    pub async fn update_profile(&self, req: &UpdateProfile) -> Result<Profile, ClientError> {
        self.call(self.request(Method::PATCH, &["me"])?.json(req))
            .await
    }

    /// `GET /v1/me/data`: everything the server holds about me.
    pub async fn my_data(&self) -> Result<MyData, ClientError> {
        self.call(self.request(Method::GET, &["me", "data"])?).await
    }

    /// `DELETE /v1/me`: delete my account at once (the password again).
    /// Returns the server-signed receipt; the client's token no longer
    /// works.
    pub async fn delete_account(&self, password: &str) -> Result<SignedReceipt, ClientError> {
        let body = DeleteAccount {
            password: password.to_owned(),
        };
        self.call(self.request(Method::DELETE, &["me"])?.json(&body))
            .await
    }

    /// `GET /v1/me/export`: stream my data archive (a tar) into `out`,
    /// calling `progress` with the bytes received so far. Returns the
    /// total size.
    pub async fn export_to<W: AsyncWrite + Unpin>(
        &self,
        out: &mut W,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, ClientError> {
        let req = self
            .request(Method::GET, &["me", "export"])?
            .timeout(EXPORT_TIMEOUT);
        let mut resp = checked(req.send().await).await?;
        let mut total = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(&e))? {
            out.write_all(&chunk)
                .await
                .map_err(|e| ClientError::Transport(format!("writing the export: {e}")))?;
            total += chunk.len() as u64;
            progress(total);
        }
        out.flush()
            .await
            .map_err(|e| ClientError::Transport(format!("writing the export: {e}")))?;
        Ok(total)
    }
}

/// Support-assisted requests, with an operator's token.
impl Client {
    /// `POST /v1/admin/dsars`.
    pub async fn open_dsar(
        &self,
        req: &oriole_proto::OpenDsar,
    ) -> Result<oriole_proto::DsarInfo, ClientError> {
        self.call(self.request(Method::POST, &["admin", "dsars"])?.json(req))
            .await
    }

    /// `GET /v1/admin/dsars[?overdue=true]`.
    pub async fn dsars(&self, overdue: bool) -> Result<Vec<oriole_proto::DsarInfo>, ClientError> {
        let mut req = self.request(Method::GET, &["admin", "dsars"])?;
        if overdue {
            req = req.query(&[("overdue", "true")]);
        }
        let list: oriole_proto::DsarList = self.call(req).await?;
        Ok(list.requests)
    }

    /// `POST /v1/admin/dsars/{id}/complete`.
    pub async fn complete_dsar(
        &self,
        id: &str,
        req: &oriole_proto::CompleteDsar,
    ) -> Result<oriole_proto::DsarCompletion, ClientError> {
        self.call(
            self.request(Method::POST, &["admin", "dsars", id, "complete"])?
                .json(req),
        )
        .await
    }
}
