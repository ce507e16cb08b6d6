//! The adapter for the bare relay ([`crate::ceiling::relay`]): no accounts,
//! no groups, no storage; a connection is named by its URL path.

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::{Account, ConnectMode, GroupRef, Inbox, Protocol, Target, Ws};

#[derive(Clone)]
pub struct Relay {
    /// `ws://HOST:PORT`
    url: String,
}

impl Relay {
    pub fn new(url: &str) -> Relay {
        Relay {
            url: url.trim_end_matches('/').to_owned(),
        }
    }
}

impl Protocol for Relay {
    type Session = RelaySession;

    fn name(&self) -> String {
        "ws-relay".into()
    }

    async fn register(&self, name: &str, password: &str) -> anyhow::Result<Account> {
        Ok(Account {
            name: name.to_owned(),
            password: password.to_owned(),
            token: None,
        })
    }

    async fn connect(
        &self,
        account: &Account,
        _mode: ConnectMode,
        inbox: Inbox,
    ) -> anyhow::Result<RelaySession> {
        let url = format!("{}/{}", self.url, account.name);
        let ws = super::connect_ws(url.as_str()).await?;
        let (sink, mut stream) = ws.split();
        let reader = tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                if let Message::Text(text) = msg {
                    inbox.deliver(text.as_str());
                }
            }
        });
        Ok(RelaySession { sink, reader })
    }

    fn supports_groups(&self) -> bool {
        false
    }

    async fn create_group(
        &self,
        _owner: &Account,
        _owner_session: &mut RelaySession,
        _members: &[Account],
        _name: &str,
    ) -> anyhow::Result<GroupRef> {
        anyhow::bail!("the bare relay has no groups")
    }
}

pub struct RelaySession {
    sink: SplitSink<Ws, Message>,
    reader: JoinHandle<()>,
}

impl super::Session for RelaySession {
    async fn send(&mut self, to: &Target, text: String) -> anyhow::Result<()> {
        let Target::Direct(dest) = to else {
            anyhow::bail!("the bare relay has no groups");
        };
        self.sink
            .send(Message::text(format!("{dest}\n{text}")))
            .await?;
        Ok(())
    }

    async fn join(&mut self, _group: &GroupRef) -> anyhow::Result<()> {
        Ok(())
    }

    async fn barrier(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    async fn close(mut self) {
        let _ = self.sink.send(Message::Close(None)).await;
        self.reader.abort();
    }
}
