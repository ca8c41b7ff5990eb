pub mod app;
pub mod fake_discord;
pub mod fake_helpdesk;

/// Fails if `fragment` is in any file of `dir`: the database, its WAL and shared memory, and
/// whatever else the test put there.
pub fn assert_not_on_disk(dir: &std::path::Path, fragment: &[u8]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let Ok(bytes) = std::fs::read(&path) else { continue };
        assert!(!bytes.windows(fragment.len()).any(|w| w == fragment), "the token is on disk in {}", path.display());
    }
}
