//! XMPP over WebSocket (RFC 7395), enough of it to drive ejabberd and
//! Prosody through the same workloads: `<open/>` framing, in-band
//! registration (XEP-0077), SASL PLAIN, resource binding, initial presence,
//! `chat` messages, XEP-0199 pings as a barrier, and MUC rooms (XEP-0045)
//! for groups. Stanzas are built and read as plain strings: one WebSocket
//! frame carries one complete element, and the harness only needs a few
//! attributes and the `<body>`.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use super::{Account, ConnectMode, GroupRef, Inbox, Protocol, Session as _, Target, Ws};

const PATIENCE: Duration = Duration::from_secs(30);
const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

#[derive(Clone)]
pub struct Xmpp {
    /// The server's name in reports ("ejabberd", "prosody").
    label: String,
    /// e.g. `ws://127.0.0.1:5280/xmpp-websocket`
    url: String,
    /// The XMPP domain, e.g. `localhost`.
    domain: String,
    /// The MUC service, e.g. `conference.localhost`.
    muc: String,
}

impl Xmpp {
    pub fn new(label: &str, url: &str, domain: &str, muc: &str) -> Xmpp {
        Xmpp {
            label: label.to_owned(),
            url: url.to_owned(),
            domain: domain.to_owned(),
            muc: muc.to_owned(),
        }
    }

    async fn open_socket(&self) -> anyhow::Result<Ws> {
        let mut request = self.url.as_str().into_client_request()?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static("xmpp"));
        let ws = tokio::time::timeout(PATIENCE, super::connect_ws(request))
            .await
            .context("WebSocket upgrade timed out")?
            .with_context(|| format!("connecting to {}", self.url))?;
        Ok(ws)
    }

    /// Open (or restart) the stream; returns the features element.
    async fn open_stream(&self, ws: &mut Ws) -> anyhow::Result<String> {
        send(
            ws,
            format!(
                "<open xmlns='{FRAMING}' to='{}' version='1.0'/>",
                self.domain
            ),
        )
        .await?;
        read_until(ws, |f| {
            f.starts_with("<stream:features") || f.starts_with("<features")
        })
        .await
    }
}

impl Protocol for Xmpp {
    type Session = XmppSession;

    fn name(&self) -> String {
        self.label.clone()
    }

    /// In-band registration (XEP-0077) on an unauthenticated stream.
    async fn register(&self, name: &str, password: &str) -> anyhow::Result<Account> {
        let mut ws = self.open_socket().await?;
        self.open_stream(&mut ws).await?;
        send(
            &mut ws,
            format!(
                "<iq xmlns='jabber:client' type='set' id='reg'><query xmlns='jabber:iq:register'>\
                 <username>{}</username><password>{}</password></query></iq>",
                escape(name),
                escape(password)
            ),
        )
        .await?;
        let answer = read_until(&mut ws, |f| {
            f.starts_with("<iq") && attr(f, "id") == Some("reg")
        })
        .await?;
        let _ = send(&mut ws, format!("<close xmlns='{FRAMING}'/>")).await;
        if attr(&answer, "type") != Some("result") {
            bail!("registering {name} was refused: {answer}");
        }
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
    ) -> anyhow::Result<XmppSession> {
        // Every XMPP connection authenticates with the password; offline
        // messages come with the initial presence, so `mode` changes nothing.
        let mut ws = self.open_socket().await?;
        self.open_stream(&mut ws).await?;
        let plain = base64::engine::general_purpose::STANDARD
            .encode(format!("\0{}\0{}", account.name, account.password));
        send(
            &mut ws,
            format!(
                "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>"
            ),
        )
        .await?;
        let outcome = read_until(&mut ws, |f| {
            f.starts_with("<success") || f.starts_with("<failure")
        })
        .await?;
        if !outcome.starts_with("<success") {
            bail!("SASL PLAIN refused for {}: {outcome}", account.name);
        }
        self.open_stream(&mut ws).await?;
        send(
            &mut ws,
            "<iq xmlns='jabber:client' type='set' id='bind'>\
             <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>"
                .to_owned(),
        )
        .await?;
        let bound = read_until(&mut ws, |f| {
            f.starts_with("<iq") && attr(f, "id") == Some("bind")
        })
        .await?;
        if attr(&bound, "type") != Some("result") {
            bail!("binding a resource for {} failed: {bound}", account.name);
        }
        send(&mut ws, "<presence xmlns='jabber:client'/>".to_owned()).await?;
        let (sink, stream) = ws.split();
        let (control_tx, control) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_stanzas(
            stream,
            account.name.clone(),
            inbox,
            control_tx,
        ));
        Ok(XmppSession {
            sink,
            reader,
            control,
            next_id: 0,
            domain: self.domain.clone(),
            nick: account.name.clone(),
        })
    }

    fn supports_groups(&self) -> bool {
        true
    }

    /// The owner joins (and so creates) the room and accepts the default
    /// configuration (an "instant room").
    async fn create_group(
        &self,
        _owner: &Account,
        owner_session: &mut XmppSession,
        _members: &[Account],
        name: &str,
    ) -> anyhow::Result<GroupRef> {
        let room = GroupRef {
            id: format!("{name}@{}", self.muc),
        };
        owner_session.join(&room).await?;
        let id = owner_session.fresh_id("cfg");
        owner_session
            .write(format!(
                "<iq xmlns='jabber:client' type='set' id='{id}' to='{}'>\
                 <query xmlns='http://jabber.org/protocol/muc#owner'>\
                 <x xmlns='jabber:x:data' type='submit'/></query></iq>",
                room.id
            ))
            .await?;
        // An already unlocked room may refuse the form; it is usable anyway.
        owner_session
            .wait(|c| matches!(c, Control::Iq { id: got, .. } if *got == id))
            .await?;
        Ok(room)
    }
}

/// What the reader tells the session about.
#[derive(Debug)]
enum Control {
    Iq {
        id: String,
        ok: bool,
    },
    /// Our own presence in a room (status 110): the join went through.
    Joined {
        room: String,
    },
}

async fn read_stanzas(
    mut stream: SplitStream<Ws>,
    nick: String,
    inbox: Inbox,
    control: mpsc::UnboundedSender<Control>,
) {
    let own_suffix = format!("/{nick}");
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else {
            continue;
        };
        let f = text.as_str();
        if f.starts_with("<message") {
            match attr(f, "type") {
                Some("error") => inbox.send_error(),
                // The room reflects our own messages back to us.
                Some("groupchat")
                    if attr(f, "from").is_some_and(|from| from.ends_with(&own_suffix)) => {}
                _ => {
                    if let Some(body) = body(f) {
                        inbox.deliver(&unescape(body));
                    }
                }
            }
        } else if f.starts_with("<iq") {
            if let (Some(id), Some(kind)) = (attr(f, "id"), attr(f, "type")) {
                if kind == "result" || kind == "error" {
                    let _ = control.send(Control::Iq {
                        id: id.to_owned(),
                        ok: kind == "result",
                    });
                }
            }
        } else if f.starts_with("<presence")
            && (f.contains("code='110'") || f.contains("code=\"110\""))
        {
            if let Some(from) = attr(f, "from") {
                let room = from.split('/').next().unwrap_or(from).to_owned();
                let _ = control.send(Control::Joined { room });
            }
        } else if f.starts_with("<close") {
            break;
        }
    }
}

pub struct XmppSession {
    sink: SplitSink<Ws, Message>,
    reader: JoinHandle<()>,
    control: mpsc::UnboundedReceiver<Control>,
    next_id: u64,
    domain: String,
    nick: String,
}

impl XmppSession {
    fn fresh_id(&mut self, what: &str) -> String {
        self.next_id += 1;
        format!("{what}{}", self.next_id)
    }

    async fn write(&mut self, stanza: String) -> anyhow::Result<()> {
        self.sink.send(Message::text(stanza)).await?;
        Ok(())
    }

    /// Wait for the reader to report what `wanted` matches.
    async fn wait(&mut self, wanted: impl Fn(&Control) -> bool) -> anyhow::Result<Control> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.control.recv()).await {
                Err(_) => bail!("no answer from the XMPP server within {PATIENCE:?}"),
                Ok(None) => bail!("the XMPP connection closed"),
                Ok(Some(c)) if wanted(&c) => return Ok(c),
                Ok(Some(_)) => {}
            }
        }
    }
}

impl super::Session for XmppSession {
    async fn send(&mut self, to: &Target, text: String) -> anyhow::Result<()> {
        let stanza = match to {
            Target::Direct(user) => format!(
                "<message xmlns='jabber:client' to='{}@{}' type='chat'><body>{}</body></message>",
                escape(user),
                self.domain,
                escape(&text)
            ),
            Target::Group(room) => format!(
                "<message xmlns='jabber:client' to='{}' type='groupchat'><body>{}</body></message>",
                escape(&room.id),
                escape(&text)
            ),
        };
        self.write(stanza).await
    }

    async fn join(&mut self, group: &GroupRef) -> anyhow::Result<()> {
        self.write(format!(
            "<presence xmlns='jabber:client' to='{}/{}'>\
             <x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>",
            escape(&group.id),
            escape(&self.nick)
        ))
        .await?;
        let room = group.id.clone();
        self.wait(|c| matches!(c, Control::Joined { room: r } if *r == room))
            .await
            .with_context(|| format!("joining {room}"))?;
        Ok(())
    }

    /// A ping to the server: answered after everything sent before it.
    async fn barrier(&mut self) -> anyhow::Result<()> {
        let id = self.fresh_id("ping");
        let stanza = format!(
            "<iq xmlns='jabber:client' type='get' id='{id}' to='{}'><ping xmlns='urn:xmpp:ping'/></iq>",
            self.domain
        );
        self.write(stanza).await?;
        match self
            .wait(|c| matches!(c, Control::Iq { id: got, .. } if *got == id))
            .await?
        {
            Control::Iq { ok: true, .. } => Ok(()),
            other => Err(anyhow!("ping failed: {other:?}")),
        }
    }

    async fn close(mut self) {
        let _ = self.write(format!("<close xmlns='{FRAMING}'/>")).await;
        let _ = self.sink.send(Message::Close(None)).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.reader).await;
        self.reader.abort();
    }
}

async fn send(ws: &mut Ws, stanza: String) -> anyhow::Result<()> {
    ws.send(Message::text(stanza)).await?;
    Ok(())
}

/// Read frames until one matches; a stream error or close ends the wait.
async fn read_until(ws: &mut Ws, wanted: impl Fn(&str) -> bool) -> anyhow::Result<String> {
    tokio::time::timeout(PATIENCE, async {
        while let Some(msg) = ws.next().await {
            let Message::Text(text) = msg? else {
                continue;
            };
            let f = text.as_str();
            if wanted(f) {
                return Ok(f.to_owned());
            }
            if f.starts_with("<stream:error") || f.starts_with("<close") {
                bail!("the XMPP server ended the stream: {f}");
            }
        }
        bail!("the XMPP server closed the connection")
    })
    .await
    .context("no answer from the XMPP server")?
}

/// The value of attribute `name` on the element's start tag.
fn attr<'a>(frame: &'a str, name: &str) -> Option<&'a str> {
    let head = &frame[..frame.find('>')?];
    for quote in ['\'', '"'] {
        let pattern = format!(" {name}={quote}");
        if let Some(i) = head.find(&pattern) {
            let rest = &head[i + pattern.len()..];
            return rest.find(quote).map(|end| &rest[..end]);
        }
    }
    None
}

/// The text of the first `<body>` child, still escaped.
fn body(frame: &str) -> Option<&str> {
    let start = frame.find("<body")?;
    let after = &frame[start..];
    let open_end = after.find('>')?;
    if after[..open_end].ends_with('/') {
        return Some("");
    }
    let content = &after[open_end + 1..];
    content.find("</body>").map(|end| &content[..end])
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&apos;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_attributes_with_either_quote() {
        let f = "<message xml:lang='en' to=\"bob@localhost\" from='alice@localhost/bench' type='chat' xmlns='jabber:client'><body>hi</body></message>";
        assert_eq!(attr(f, "to"), Some("bob@localhost"));
        assert_eq!(attr(f, "from"), Some("alice@localhost/bench"));
        assert_eq!(attr(f, "type"), Some("chat"));
        assert_eq!(attr(f, "id"), None);
        assert_eq!(attr(f, "lang"), None);
    }

    #[test]
    fn reads_the_body() {
        assert_eq!(
            body("<message><body>a &amp; b</body></message>"),
            Some("a &amp; b")
        );
        assert_eq!(
            body("<message><body xml:lang='en'>x</body></message>"),
            Some("x")
        );
        assert_eq!(body("<message><body/></message>"), Some(""));
        assert_eq!(body("<message><subject>s</subject></message>"), None);
        assert_eq!(unescape("a &amp;lt; b"), "a &lt; b");
        assert_eq!(escape("<a href='x'>&"), "&lt;a href=&apos;x&apos;&gt;&amp;");
    }
}
