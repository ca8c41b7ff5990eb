pub mod app;
pub mod db;
pub mod fake_discord;
pub mod fake_helpdesk;

/// Fails if `fragment` is in any file of `dir`: the database, its WAL and shared memory, and
/// whatever else the test put there.
pub fn assert_not_on_disk(dir: &std::path::Path, fragment: &[u8]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let Ok(bytes) = std::fs::read(&path) else { continue };
        assert!(memchr::memmem::find(&bytes, fragment).is_none(), "the token is on disk in {}", path.display());
    }
}

/// The value of the unlabelled metric `name` in a `/metrics` text: its one sample, whatever
/// constant labels (the replica's name) it carries.
pub fn metric_value(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{')))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.trim().parse().ok())
}
