//! Init segments and fragments read back with a small box walker, and an end-to-end check that
//! ffprobe decodes what we write from a real FLV.

mod boxes;
mod end_to_end;
mod fragments;
mod init;
mod properties;
