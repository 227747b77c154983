//! Why: the resumable-upload guarantees (offset checks, locking, resume after a broken body,
//! crash recovery, expiry) are the whole point of tus; each gets a test over a temporary dir.

use super::*;
use futures_util::stream;

const MIN: Duration = Duration::from_secs(60);

fn store() -> (tempfile::TempDir, TusStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = TusStore::open(dir.path().join("uploads"), MIN).unwrap();
    (dir, s)
}

fn body(parts: &[&[u8]]) -> impl Stream<Item = Result<Bytes, io::Error>> {
    let v: Vec<Result<Bytes, io::Error>> = parts
        .iter()
        .map(|p| Ok(Bytes::copy_from_slice(p)))
        .collect();
    stream::iter(v)
}

fn meta() -> BTreeMap<String, String> {
    BTreeMap::from([("video".to_owned(), "v0123456789abcdef".to_owned())])
}

#[tokio::test]
async fn an_upload_in_two_patches_completes() {
    let (_d, s) = store();
    let info = s.create(10, meta(), 1_000).await.unwrap();
    assert_eq!(info.id.len(), 32);
    assert_eq!((info.offset, info.length, info.complete), (0, 10, false));
    assert_eq!(info.expires_at_ms, 61_000);
    assert_eq!(info.metadata, meta());

    let i = s
        .append(&info.id, 0, body(&[b"hel", b"lo"]), 2_000)
        .await
        .unwrap();
    assert_eq!((i.offset, i.complete), (5, false));
    assert_eq!(i.expires_at_ms, 62_000, "a write moves the expiry");
    let i = s
        .append(&info.id, 5, body(&[b"world"]), 3_000)
        .await
        .unwrap();
    assert!(i.complete);
    let path = s.data_path(&info.id).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"helloworld");
    assert_eq!(s.info(&info.id).await.unwrap().unwrap(), i);
}

#[tokio::test]
async fn a_wrong_offset_conflicts_and_changes_nothing() {
    let (_d, s) = store();
    let id = s.create(10, meta(), 0).await.unwrap().id;
    s.append(&id, 0, body(&[b"abc"]), 1).await.unwrap();
    let e = s.append(&id, 0, body(&[b"xyz"]), 2).await.unwrap_err();
    assert!(
        matches!(
            e,
            TusError::Conflict {
                expected: 3,
                got: 0
            }
        ),
        "{e}"
    );
    assert_eq!(s.info(&id).await.unwrap().unwrap().offset, 3);
    assert_eq!(std::fs::read(s.data_path(&id).unwrap()).unwrap(), b"abc");
}

#[tokio::test]
async fn bytes_past_the_length_are_refused_and_earlier_ones_kept() {
    let (_d, s) = store();
    let id = s.create(4, meta(), 0).await.unwrap().id;
    let e = s
        .append(&id, 0, body(&[b"ab", b"cde"]), 1)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            TusError::BeyondLength {
                length: 4,
                offset: 2
            }
        ),
        "{e}"
    );
    assert_eq!(s.info(&id).await.unwrap().unwrap().offset, 2);
}

#[tokio::test]
async fn a_broken_body_keeps_what_arrived_and_the_upload_resumes() {
    let (_d, s) = store();
    let total = CHECKPOINT_BYTES + (3 << 20);
    let id = s.create(total, meta(), 0).await.unwrap().id;
    // 16 MiB + 1 MiB arrive (a checkpoint on the way), then the connection drops.
    let mb = Bytes::from(vec![7u8; 1 << 20]);
    let arrived = (CHECKPOINT_BYTES >> 20) + 1;
    let parts = (0..arrived)
        .map(|_| Ok(mb.clone()))
        .chain([Err("connection reset")]);
    let e = s.append(&id, 0, stream::iter(parts), 1).await.unwrap_err();
    let kept = arrived << 20;
    match e {
        TusError::Interrupted { offset, reason } => {
            assert_eq!(offset, kept);
            assert!(reason.contains("connection reset"));
        }
        e => panic!("{e}"),
    }
    assert_eq!(s.info(&id).await.unwrap().unwrap().offset, kept);
    let rest = (0..(total - kept) >> 20).map(|_| Ok::<_, io::Error>(mb.clone()));
    let i = s.append(&id, kept, stream::iter(rest), 2).await.unwrap();
    assert!(i.complete);
    let len = std::fs::metadata(s.data_path(&id).unwrap()).unwrap().len();
    assert_eq!(len, total);
}

#[tokio::test]
async fn bytes_after_the_recorded_offset_are_dropped_on_resume() {
    let (_d, s) = store();
    let id = s.create(6, meta(), 0).await.unwrap().id;
    s.append(&id, 0, body(&[b"abc"]), 1).await.unwrap();
    // A crash after writing data but before recording the offset.
    let path = s.data_path(&id).unwrap();
    let mut raw = std::fs::read(&path).unwrap();
    raw.extend_from_slice(b"GARBAGE");
    std::fs::write(&path, raw).unwrap();
    s.append(&id, 3, body(&[b"def"]), 2).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"abcdef");
}

#[tokio::test]
async fn a_second_patch_while_one_writes_is_locked() {
    let (_d, s) = store();
    let id = s.create(6, meta(), 0).await.unwrap().id;
    let lock = s.try_lock(&id).unwrap();
    let e = s.append(&id, 0, body(&[b"x"]), 1).await.unwrap_err();
    assert!(matches!(e, TusError::Locked), "{e}");
    assert!(matches!(s.terminate(&id).await, Err(TusError::Locked)));
    s.append_locked(&lock, 0, body(&[b"x"]), 1).await.unwrap();
    drop(lock);
    s.append(&id, 1, body(&[b"y"]), 1).await.unwrap();
}

#[tokio::test]
async fn expired_uploads_are_refused_and_swept() {
    let (_d, s) = store();
    let old = s.create(5, meta(), 0).await.unwrap();
    let fresh = s.create(5, meta(), 50_000).await.unwrap();
    let e = s.append(&old.id, 0, body(&[b"a"]), 60_000).await;
    assert!(matches!(e, Err(TusError::Expired)));
    assert!(s.info(&old.id).await.unwrap().unwrap().is_expired(60_000));
    assert_eq!(s.sweep_expired(60_000).await.unwrap(), 1);
    assert!(s.info(&old.id).await.unwrap().is_none());
    assert!(!s.data_path(&old.id).unwrap().exists());
    assert!(s.info(&fresh.id).await.unwrap().is_some());
    // A data file without its record is debris.
    let stray = s.data_path(&"a".repeat(32)).unwrap();
    std::fs::write(&stray, b"x").unwrap();
    assert_eq!(s.sweep_expired(60_000).await.unwrap(), 0);
    assert!(!stray.exists());
    // A locked upload is not swept, even when expired.
    let _lock = s.try_lock(&fresh.id).unwrap();
    assert_eq!(s.sweep_expired(999_999).await.unwrap(), 0);
}

#[tokio::test]
async fn termination_removes_the_upload() {
    let (_d, s) = store();
    let id = s.create(5, meta(), 0).await.unwrap().id;
    s.append(&id, 0, body(&[b"ab"]), 1).await.unwrap();
    s.terminate(&id).await.unwrap();
    assert!(s.info(&id).await.unwrap().is_none());
    assert!(!s.data_path(&id).unwrap().exists());
    assert!(matches!(s.terminate(&id).await, Err(TusError::NotFound)));
    let e = s.append(&id, 2, body(&[b"c"]), 2).await.unwrap_err();
    assert!(matches!(e, TusError::NotFound), "{e}");
}

#[tokio::test]
async fn a_finished_upload_keeps_answering_without_its_data() {
    let (_d, s) = store();
    let id = s.create(3, meta(), 0).await.unwrap().id;
    let lock = s.try_lock(&id).unwrap();
    let i = s.append_locked(&lock, 0, body(&[b"abc"]), 1).await.unwrap();
    assert!(i.complete && !i.finished);
    let i = s.mark_finished(&lock, 2).await.unwrap();
    assert!(i.finished);
    drop(lock);
    assert!(!s.data_path(&id).unwrap().exists());
    let i = s.append(&id, 3, body(&[]), 3).await.unwrap();
    assert!(i.complete && i.finished);
    let e = s.append(&id, 3, body(&[b"d"]), 3).await.unwrap_err();
    assert!(matches!(e, TusError::BeyondLength { .. }), "{e}");
}

#[tokio::test]
async fn an_empty_upload_is_complete_at_once() {
    let (_d, s) = store();
    let i = s.create(0, BTreeMap::new(), 0).await.unwrap();
    assert!(i.complete);
    assert!(s.append(&i.id, 0, body(&[]), 1).await.unwrap().complete);
}

#[tokio::test]
async fn ids_that_are_not_ours_find_nothing() {
    let (_d, s) = store();
    for id in ["../../etc/passwd", "", "ABCDEF", &"g".repeat(32)] {
        assert!(s.info(id).await.unwrap().is_none(), "{id}");
        assert!(s.data_path(id).is_none());
        assert!(matches!(s.try_lock(id), Err(TusError::NotFound)));
    }
}

#[test]
fn metadata_parses_as_the_spec_shows() {
    let m =
        parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential").unwrap();
    assert_eq!(m["filename"], "world_domination_plan.pdf");
    assert_eq!(m["is_confidential"], "");
    assert!(parse_metadata("").unwrap().is_empty());
    let again = format_metadata(m.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert_eq!(parse_metadata(&again).unwrap(), m);
    assert_eq!(
        parse_metadata("video djE=, token dA==").unwrap()["token"],
        "t"
    );
    for bad in [
        "a !!!",
        "a YQ==,a YQ==",
        "a YQ== x",
        ",",
        "a /w==", // not UTF-8
    ] {
        assert!(
            matches!(parse_metadata(bad), Err(TusError::InvalidMetadata(_))),
            "{bad}"
        );
    }
    assert!(parse_metadata(&"a".repeat(MAX_METADATA_LEN + 1)).is_err());
    let many: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    assert!(parse_metadata(&many.join(",")).is_err());
}

#[test]
fn expiry_dates_are_http_dates() {
    assert_eq!(
        http_date(1_403_712_000_000),
        "Wed, 25 Jun 2014 16:00:00 GMT"
    );
    assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(http_date(951_825_599_000), "Tue, 29 Feb 2000 11:59:59 GMT");
}
