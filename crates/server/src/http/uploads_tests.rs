//! Unit tests of the upload handlers.

use super::*;
use std::collections::BTreeMap;

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_static(v));
    }
    h
}

#[test]
fn a_missing_or_other_tus_version_is_412_naming_ours() {
    assert!(refuse_version(&headers(&[("tus-resumable", "1.0.0")])).is_none());
    for h in [headers(&[]), headers(&[("tus-resumable", "0.2.2")])] {
        let res = refuse_version(&h).unwrap();
        assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(res.headers()["tus-version"], "1.0.0");
    }
}

#[test]
fn numeric_headers_are_plain_digits() {
    let h = headers(&[("upload-offset", "1234")]);
    assert_eq!(header_u64(&h, &UPLOAD_OFFSET).unwrap(), Some(1234));
    assert_eq!(header_u64(&headers(&[]), &UPLOAD_OFFSET).unwrap(), None);
    for bad in ["-1", "+5", "1e3", "", " 5", "99999999999999999999999"] {
        let mut h = HeaderMap::new();
        h.insert(UPLOAD_OFFSET, HeaderValue::from_str(bad).unwrap());
        let e = header_u64(&h, &UPLOAD_OFFSET).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[test]
fn the_grant_comes_from_the_stored_metadata_and_stays_private() {
    let info = TusInfo {
        id: "0".repeat(32),
        offset: 0,
        length: 10,
        metadata: BTreeMap::from([
            ("video".into(), "v0123456789abcdef".into()),
            ("key".into(), "sources/v0123456789abcdef".into()),
            ("max_bytes".into(), "100".into()),
            ("filename".into(), "a.mp4".into()),
        ]),
        expires_at_ms: 0,
        complete: false,
        finished: false,
    };
    let g = grant_of(&info).unwrap();
    assert_eq!(
        (g.video_id.as_str(), g.key.as_str(), g.max_bytes),
        ("v0123456789abcdef", "sources/v0123456789abcdef", 100)
    );
    let shown = parse_metadata(&client_metadata(&info)).unwrap();
    assert_eq!(
        shown.keys().collect::<Vec<_>>(),
        ["filename", "video"],
        "the storage key and cap are not echoed"
    );
    let mut bare = info.clone();
    bare.metadata.remove("key");
    assert_eq!(
        grant_of(&bare).unwrap_err().status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[test]
fn tus_errors_map_to_the_spec_statuses() {
    let cases = [
        (TusError::NotFound, StatusCode::NOT_FOUND),
        (TusError::Expired, StatusCode::GONE),
        (
            TusError::Conflict {
                expected: 1,
                got: 0,
            },
            StatusCode::CONFLICT,
        ),
        (TusError::Locked, StatusCode::LOCKED),
        (
            TusError::BeyondLength {
                length: 1,
                offset: 1,
            },
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            TusError::InvalidMetadata("x".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            TusError::DiskFull { path: "/x".into() },
            StatusCode::INSUFFICIENT_STORAGE,
        ),
    ];
    for (e, status) in cases {
        assert_eq!(tus_error(e).status, status);
    }
}
