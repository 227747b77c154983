//! Integration tests: an in-memory publisher against `ServerSession` (one test binary per crate).

mod caps;
mod client;
mod publish;
