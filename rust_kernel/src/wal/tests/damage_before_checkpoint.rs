//! Damage before the newest checkpoint refuses the open as damage after it does, naming the
//! file, byte offset and seq: a flipped bit, bytes appended inside a segment, a segment removed
//! from the middle, two segments swapped. Segments archived from the start still open.

use super::*;
use std::io::Write;

fn segments(dir: &Path) -> Vec<(u64, PathBuf)> {
    scan::list_dir(dir).unwrap().segments
}

/// The segments wholly before the newest checkpoint's.
fn before_newest_checkpoint(dir: &Path) -> Vec<(u64, PathBuf)> {
    let newest = dir.join(checkpoint_file(90));
    let c = format::decode_checkpoint(&fs::read(&newest).unwrap(), &newest, "kernel-a").unwrap();
    let all = segments(dir);
    let before: Vec<_> = all
        .into_iter()
        .filter(|(first, _)| *first < c.segment_first_seq)
        .collect();
    assert!(
        before.len() >= 3,
        "the test needs segments before the checkpoint's"
    );
    before
}

fn refused(dir: &Path, opts: WalOptions) -> (PathBuf, u64, Option<u64>, String) {
    match open_collect(dir, opts).unwrap_err() {
        err @ WalError::Corrupt { .. } => {
            let text = err.to_string();
            let WalError::Corrupt {
                file, offset, seq, ..
            } = err
            else {
                unreachable!()
            };
            (file, offset, seq, text)
        }
        other => panic!("expected Corrupt, got {other}"),
    }
}

#[test]
fn a_flipped_bit_before_the_newest_checkpoint_refuses_the_open() {
    let (dir, opts) = segmented_log();
    let (_, path) = &before_newest_checkpoint(dir.path())[1];
    let (start, end) = frames(path)[1];
    flip_byte(path, (start + end) / 2);
    let damaged = snapshot_dir(dir.path());
    let (file, offset, seq, text) = refused(dir.path(), opts);
    assert_eq!((&file, offset), (path, start as u64));
    assert!(
        seq.is_some() && text.contains("where checkpoint seq 90 starts its replay"),
        "{text}"
    );
    assert_eq!(
        snapshot_dir(dir.path()),
        damaged,
        "refusing changed nothing on disk"
    );
}

#[test]
fn bytes_appended_to_a_segment_before_the_newest_checkpoint_refuse_the_open() {
    let (dir, opts) = segmented_log();
    let (_, path) = &before_newest_checkpoint(dir.path())[0];
    let len = fs::metadata(path).unwrap().len();
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(b"appended")
        .unwrap();
    let (file, offset, _, text) = refused(dir.path(), opts);
    assert_eq!((&file, offset), (path, len), "{text}");
}

#[test]
fn a_segment_removed_before_the_newest_checkpoint_refuses_the_open_naming_both_sides() {
    let (dir, opts) = segmented_log();
    let before = before_newest_checkpoint(dir.path());
    fs::remove_file(&before[1].1).unwrap();
    let (file, _, _, text) = refused(dir.path(), opts);
    assert_eq!(file, before[2].1, "{text}");
    assert!(
        text.contains(
            &before[0]
                .1
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string()
        ),
        "{text}"
    );
}

#[test]
fn two_segments_swapped_before_the_newest_checkpoint_refuse_the_open() {
    let (dir, opts) = segmented_log();
    let before = before_newest_checkpoint(dir.path());
    let (a, b) = (&before[0].1, &before[1].1);
    let (bytes_a, bytes_b) = (fs::read(a).unwrap(), fs::read(b).unwrap());
    fs::write(a, bytes_b).unwrap();
    fs::write(b, bytes_a).unwrap();
    let err = open_collect(dir.path(), opts).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&a.file_name().unwrap().to_string_lossy().to_string())
            || text.contains(&b.file_name().unwrap().to_string_lossy().to_string()),
        "{text}"
    );
}

#[test]
fn segments_archived_from_the_start_still_open_from_the_newest_checkpoint() {
    let (dir, opts) = segmented_log();
    for (_, path) in before_newest_checkpoint(dir.path()) {
        fs::remove_file(path).unwrap();
    }
    let (_, report, _) = open_collect(dir.path(), opts).unwrap();
    assert_eq!(report.checkpoint_seq, Some(90));
}

#[test]
fn a_whole_log_before_its_checkpoint_opens() {
    let (dir, opts) = segmented_log();
    let (_, report, _) = open_collect(dir.path(), opts).unwrap();
    assert_eq!((report.checkpoint_seq, report.last_seq), (Some(90), 100));
}
