//! The pcap/pcapng reader on arbitrary files. The input is written to a temporary file and
//! read to the end. Checks: no panic and no endless loop; every frame's `cap_len` equals its
//! data length and is at most `wire_len`; frame numbers increase; the reader's offset never
//! goes backwards nor past the end of the file; an error names the file, and the reader
//! returns nothing after it.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use netsensor::capture::offline::PcapFile;

fn scratch_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("netsensor-fuzz-{}.pcap", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch_path();
    std::fs::write(path, data).expect("write the scratch file");
    let mut file = match PcapFile::open(path) {
        Ok(file) => file,
        Err(error) => {
            assert!(error.to_string().contains(&path.display().to_string()));
            return;
        }
    };
    let mut frame = Vec::new();
    let mut last_number = 0u64;
    let mut last_offset = file.offset();
    // A frame consumes at least 12 bytes of the file (a pcapng block header), so a reader
    // that returns more frames than that is looping.
    let limit = data.len() / 12 + 1;
    for _ in 0..=limit {
        match file.next_frame(&mut frame) {
            Ok(Some(meta)) => {
                assert_eq!(
                    meta.cap_len as usize,
                    frame.len(),
                    "cap_len is the data length"
                );
                assert!(meta.cap_len <= meta.wire_len, "cap_len <= wire_len");
                assert!(meta.number > last_number, "frame numbers increase");
                last_number = meta.number;
                let offset = file.offset();
                assert!(offset >= last_offset && offset <= data.len() as u64);
                last_offset = offset;
            }
            Ok(None) => return,
            Err(error) => {
                assert!(error.to_string().contains(&path.display().to_string()));
                assert!(frame.is_empty());
                assert!(matches!(file.next_frame(&mut frame), Ok(None)));
                return;
            }
        }
    }
    panic!("more than {limit} frames from {} bytes", data.len());
});
