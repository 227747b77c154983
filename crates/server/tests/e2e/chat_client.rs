//! A real WebSocket chat client (tungstenite over a blocking socket) for the end-to-end tests.

use crate::harness::Server;
use serde_json::{json, Value};
use socket2::{Domain, Socket, Type};
use std::collections::VecDeque;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

pub struct ChatClient {
    pub ws: WebSocket<TcpStream>,
    /// Events already received but not yet taken (batches are split into their events).
    queue: VecDeque<Value>,
    pub closed: Option<(u16, String)>,
}

/// A TCP connection to the server from `from_ip` (any 127.x.y.z works on Linux loopback), so
/// tests can be several "addresses" on one machine. `rcvbuf` shrinks the receive buffer.
pub fn tcp_from(server: &Server, from_ip: &str, rcvbuf: Option<usize>) -> TcpStream {
    let target: SocketAddr = server.http.parse().unwrap();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let local: SocketAddr = format!("{from_ip}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&target.into()).unwrap();
    socket.into()
}

impl ChatClient {
    pub fn connect(server: &Server, channel: &str, from_ip: &str) -> Self {
        Self::connect_with(server, channel, from_ip, None)
    }

    pub fn connect_with(
        server: &Server,
        channel: &str,
        from_ip: &str,
        rcvbuf: Option<usize>,
    ) -> Self {
        let stream = tcp_from(server, from_ip, rcvbuf);
        let url = format!("ws://{}/chat/{channel}", server.http);
        let (ws, response) =
            tungstenite::client(url.as_str(), stream).expect("websocket handshake");
        assert_eq!(response.status(), 101);
        Self {
            ws,
            queue: VecDeque::new(),
            closed: None,
        }
    }

    pub fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).expect("send");
    }

    pub fn send_raw(&mut self, m: Message) -> bool {
        self.ws.send(m).is_ok()
    }

    /// The next event (a frame, or one event of a batch frame) within `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(v) = self.queue.pop_front() {
            return Some(v);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.closed.is_some() {
                return None;
            }
            self.ws.get_ref().set_read_timeout(Some(left)).unwrap();
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    let v: Value =
                        serde_json::from_str(t.as_str()).expect("server frames are JSON");
                    if v["type"] == "batch" {
                        self.queue
                            .extend(v["events"].as_array().unwrap().iter().cloned());
                    } else {
                        self.queue.push_back(v);
                    }
                    return self.queue.pop_front();
                }
                Ok(Message::Close(frame)) => {
                    self.closed = Some(frame.map_or((1005, String::new()), |f| {
                        (u16::from(f.code), f.reason.to_string())
                    }));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {
                    self.closed.get_or_insert((1006, String::new()));
                }
            }
        }
    }

    /// The next event of `kind`, skipping others (presence and the like).
    pub fn recv_type(&mut self, kind: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left) {
                Some(v) if v["type"] == kind => return v,
                Some(_) => continue,
                None => panic!("no `{kind}` within {timeout:?} (closed: {:?})", self.closed),
            }
        }
    }

    /// Waits for the close frame (or the connection's end); returns its code.
    pub fn wait_closed(&mut self, timeout: Duration) -> Option<u16> {
        let deadline = Instant::now() + timeout;
        while self.closed.is_none() && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = self.recv(left.min(Duration::from_millis(200)));
            self.queue.clear();
        }
        self.closed.as_ref().map(|c| c.0)
    }

    pub fn join_guest(&mut self, name: &str) -> Value {
        self.send(json!({"type": "join", "name": name}));
        self.recv_type("joined", Duration::from_secs(5))
    }

    pub fn join_token(&mut self, token: &str) -> Value {
        self.send(json!({"type": "join", "token": token}));
        self.recv_type("joined", Duration::from_secs(5))
    }

    pub fn say(&mut self, text: &str) {
        self.send(json!({"type": "send", "text": text}));
    }

    /// Sends `text` and returns the server's answer: the message as broadcast, or the error.
    pub fn say_and_wait(&mut self, text: &str) -> Value {
        self.say(text);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.recv(left).expect("an answer to send");
            if v["type"] == "error" || (v["type"] == "message" && v["text"] == text) {
                return v;
            }
        }
    }
}

/// A chat token from the API.
pub fn token(server: &Server, channel: &str, name: &str, role: &str) -> String {
    let (status, body) = server.api(
        "POST",
        &format!("/api/v1/channels/{channel}/chat/tokens"),
        Some(json!({"name": name, "role": role})),
    );
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}
