//! `triage stats`: what triage saw and did, as a table or stable JSON.

use std::process::ExitCode;

use crate::stats::{compute, parse_period, render_table};
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Period to cover, e.g. 7d, 30d, 12h.
    #[arg(long, default_value = "30d", value_parser = parse_period)]
    pub since: std::time::Duration,
    /// Print JSON (stable; documented in the README).
    #[arg(long)]
    pub json: bool,
    /// How many recurring authors and accounts to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Rule health instead: per category and rule, cases fired on, held back, and precision
    /// where people judged it. (`--rules` names the rule pack for every command.)
    #[arg(long)]
    pub by_rule: bool,
}

pub async fn run(store: &Store, args: Args) -> anyhow::Result<ExitCode> {
    if args.by_rule {
        let report = crate::stats::rules(store, args.since, crate::pipeline::now()).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", crate::stats::render_rules(&report));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let stats = compute(store, args.since, args.top, crate::pipeline::now()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print!("{}", render_table(&stats));
    }
    Ok(ExitCode::SUCCESS)
}
