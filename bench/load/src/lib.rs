//! What the load generators share: a server process's CPU and memory from `/proc`, and a
//! minimal HTTP/1.1 GET on a keep-alive connection (text or bytes).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// (user+system CPU seconds, resident bytes) of process `pid`; zeros if it cannot be read.
pub fn proc_usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    ((ticks(11) + ticks(12)) / 100.0, rss_kb * 1024)
}

/// One GET on a keep-alive connection; returns the status and the body.
pub async fn get(stream: &mut TcpStream, host: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let (status, body) = get_bytes(stream, host, path).await?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// One GET on a keep-alive connection; returns the status and the body's bytes.
pub async fn get_bytes(
    stream: &mut TcpStream,
    host: &str,
    path: &str,
) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut buf = Vec::with_capacity(4096);
    let (status, body) = get_into(stream, host, path, &mut buf).await?;
    Ok((status, buf[body].to_vec()))
}

/// Longest response head accepted.
const MAX_HEAD: usize = 64 << 10;
/// Largest response body accepted (a segment is a few MB).
const MAX_BODY: usize = 256 << 20;

/// One GET on a keep-alive connection, read into `buf` (reused across calls, so a load generator
/// following thousands of connections allocates nothing per answer, which would be measured as
/// server latency on a shared machine). Returns the status and where the body lies in `buf`. The
/// body is read by `Content-Length` (absent: empty), which every answer of the server carries.
pub async fn get_into(
    stream: &mut TcpStream,
    host: &str,
    path: &str,
    buf: &mut Vec<u8>,
) -> anyhow::Result<(u16, std::ops::Range<usize>)> {
    buf.clear();
    for part in ["GET ", path, " HTTP/1.1\r\nHost: ", host, "\r\n\r\n"] {
        buf.extend_from_slice(part.as_bytes());
    }
    stream.write_all(buf).await?;
    buf.clear();
    let mut filled = 0;
    let end = loop {
        if buf.len() < filled + 4096 {
            buf.resize(filled + 4096, 0);
        }
        let n = stream.read(&mut buf[filled..]).await?;
        anyhow::ensure!(n > 0, "connection closed");
        filled += n;
        if let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        anyhow::ensure!(filled <= MAX_HEAD, "response head over {MAX_HEAD} bytes");
    };
    let head = &buf[..end];
    let status = head
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let header = |name: &[u8]| {
        head.split(|b| *b == b'\n').find_map(|line| {
            let (key, value) = line.split_at(line.iter().position(|b| *b == b':')?);
            key.eq_ignore_ascii_case(name)
                .then(|| std::str::from_utf8(&value[1..]).ok())
                .flatten()
                .map(str::trim)
        })
    };
    anyhow::ensure!(
        header(b"transfer-encoding").is_none(),
        "chunked answers are not supported"
    );
    let len: usize = header(b"content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    anyhow::ensure!(
        len <= MAX_BODY,
        "response body of {len} bytes, over {MAX_BODY}"
    );
    let body = end + 4..end + 4 + len;
    if buf.len() < body.end {
        buf.resize(body.end, 0);
    }
    while filled < body.end {
        let n = stream.read(&mut buf[filled..body.end]).await?;
        anyhow::ensure!(n > 0, "connection closed");
        filled += n;
    }
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers one request with `answer`; the client's error for it.
    async fn refused(answer: Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req).await;
            let _ = s.write_all(&answer).await;
        });
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let mut buf = Vec::new();
        get_into(&mut stream, &addr, "/", &mut buf)
            .await
            .unwrap_err()
            .to_string()
    }

    #[tokio::test]
    async fn oversized_heads_and_bodies_are_refused() {
        let endless_head = vec![b'a'; MAX_HEAD + 8192];
        assert!(refused(endless_head).await.contains("head over"));
        let huge = b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n".to_vec();
        assert!(refused(huge).await.contains("body of 999999999999 bytes"));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        assert!(refused(chunked).await.contains("chunked"));
    }
}
