//! Progress bars for long operations, on a terminal only (logs and pipes stay clean).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps on stderr when `show`, else a hidden one that costs nothing.
pub fn bar(show: bool, len: u64, message: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:40!} [{bar:30}] {pos}/{len} {elapsed_precise}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_owned());
    bar
}
