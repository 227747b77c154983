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

/// One GET on a keep-alive connection; returns the status and the body's bytes. The body is
/// read by `Content-Length` (absent: empty), which every answer of the server carries.
pub async fn get_bytes(
    stream: &mut TcpStream,
    host: &str,
    path: &str,
) -> anyhow::Result<(u16, Vec<u8>)> {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        anyhow::ensure!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        anyhow::ensure!(
            !head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "chunked answers are not supported"
        );
        let len = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_owned())
            })
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + len {
            let n = stream.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "connection closed");
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.truncate(end + 4 + len);
        return Ok((status, buf.split_off(end + 4)));
    }
}
