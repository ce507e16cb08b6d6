//! The bare relay: a WebSocket server that forwards each text frame
//! `DEST\nBODY` to the connection registered as `DEST` (the request path
//! names each connection). No JSON, no storage, no acknowledgements: the
//! transport's own ceiling, to hold a real server's numbers against.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

type Routes = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>>;

/// Accept connections on `listener` until the process ends.
pub async fn serve(listener: TcpListener) -> anyhow::Result<()> {
    let routes: Routes = Arc::default();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, Arc::clone(&routes)));
    }
}

async fn connection(stream: TcpStream, routes: Routes) {
    let mut name = String::new();
    // tungstenite's callback signature, error type included.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| {
        name = req.uri().path().trim_start_matches('/').to_owned();
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    lock(&routes).insert(name.clone(), tx);
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink.send(msg).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else {
            continue;
        };
        let Some((dest, body)) = text.as_str().split_once('\n') else {
            continue;
        };
        if let Some(to) = lock(&routes).get(dest) {
            let _ = to.send(Message::text(body));
        }
    }
    lock(&routes).remove(&name);
    writer.abort();
}

fn lock(
    routes: &Routes,
) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<Message>>> {
    routes.lock().unwrap_or_else(|e| e.into_inner())
}
