//! Why: keys reach the store from ids and rendition names that travelled through URLs and job
//! payloads; only plain relative paths of safe characters get through, so a key can never climb
//! out of the local root (`..`, a leading `/`) nor mean different files on different backends.

use crate::StorageError;
use object_store::path::Path as ObjectPath;

/// Longest key accepted, in bytes (S3 allows 1024).
pub const MAX_KEY_LEN: usize = 1024;

fn invalid(key: &str, reason: &'static str) -> StorageError {
    StorageError::InvalidKey {
        key: key.chars().take(200).collect(),
        reason,
    }
}

/// Checks a key (`vod/v0123/master.m3u8`) and turns it into an object store path.
pub(crate) fn check_key(key: &str) -> Result<ObjectPath, StorageError> {
    if key.is_empty() {
        return Err(invalid(key, "it is empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(invalid(key, "it is longer than 1024 bytes"));
    }
    if key.starts_with('/') {
        return Err(invalid(key, "it starts with '/'"));
    }
    for seg in key.split('/') {
        if seg.is_empty() {
            return Err(invalid(key, "it has an empty path segment"));
        }
        if seg == "." || seg == ".." {
            return Err(invalid(key, "it has a '.' or '..' segment"));
        }
        if !seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
        {
            return Err(invalid(
                key,
                "only ASCII letters, digits, '-', '_', '.', '=' and '/' are allowed",
            ));
        }
    }
    ObjectPath::parse(key).map_err(|_| invalid(key, "it is not a valid object path"))
}

/// Checks a prefix: a key, possibly with a trailing `/`; empty means everything when `allow_empty`.
pub(crate) fn check_prefix(
    prefix: &str,
    allow_empty: bool,
) -> Result<Option<ObjectPath>, StorageError> {
    let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
    if trimmed.is_empty() {
        return if allow_empty {
            Ok(None)
        } else {
            Err(invalid(prefix, "an empty prefix would match every object"))
        };
    }
    check_key(trimmed).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_plain_relative_paths() {
        for ok in [
            "sources/v0123456789abcdef",
            "vod/v1/v/720p/0.m4s",
            "tmp/v1/rungs/audio.flv",
        ] {
            assert_eq!(check_key(ok).unwrap().as_ref(), ok);
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a/./b",
            "a/",
            "a b",
            "a\\b",
            "a#1",
            "é",
        ] {
            let e = check_key(bad).unwrap_err();
            assert!(e.to_string().contains("invalid storage key"), "{bad}: {e}");
        }
        assert!(check_key(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn prefixes_may_end_with_a_slash() {
        assert_eq!(
            check_prefix("vod/v1/", false).unwrap().unwrap().as_ref(),
            "vod/v1"
        );
        assert!(check_prefix("", true).unwrap().is_none());
        assert!(check_prefix("/", false).is_err());
        assert!(check_prefix("", false).is_err());
    }
}
