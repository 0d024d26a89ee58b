//! The lean sign-in reading (`RecordReader::for_each_view`) agrees with the full model on every
//! file we have: our fixtures, generated sign-ins, and every shared dataset file (when present).

use std::path::{Path, PathBuf};

#[path = "support/agree.rs"]
mod agree;
#[path = "../benches/support/generate.rs"]
mod generate;

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn our_fixtures_read_the_same_lean_and_in_full() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    files_under(&root.join("tests/fixtures"), &mut files);
    files_under(&root.join("../cli/tests/fixtures"), &mut files);
    assert!(files.len() > 5, "fixtures found: {files:?}");
    let mut lean = 0;
    for file in files {
        lean += agree::assert_views_agree(&std::fs::read(&file).unwrap(), &file.display().to_string());
    }
    assert!(lean > 0, "plain Graph sign-ins among the fixtures are read the lean way");
}

#[test]
fn generated_sign_ins_read_the_same_lean_and_in_full() {
    let lines: String = (0..2_000).map(|n| generate::sign_in(n) + "\n").collect();
    assert_eq!(agree::assert_views_agree(lines.as_bytes(), "generated"), 2_000);
    let page = format!(
        r#"{{"@odata.context":"x","value":[{}]}}"#,
        (0..500).map(generate::sign_in).collect::<Vec<_>>().join(",")
    );
    assert_eq!(agree::assert_views_agree(page.as_bytes(), "generated page"), 500);
}

#[test]
fn every_dataset_file_reads_the_same_lean_and_in_full() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    if !dir.is_dir() {
        eprintln!("skipping: ../shared/datasets not found");
        return;
    }
    let mut files = Vec::new();
    files_under(&dir, &mut files);
    let mut lean = 0;
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        if bytes.len() > 64 * 1024 * 1024 {
            continue;
        }
        lean += agree::assert_views_agree(&bytes, &file.display().to_string());
    }
    eprintln!("{lean} dataset records read the lean way");
    assert!(lean > 0);
}
