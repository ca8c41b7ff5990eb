pub mod app;
pub mod fake_discord;
