//! Which Discord shards this process runs: `[discord] shards = "0-1/4"` or `--shards 0-1/4`.
//!
//! Discord sends a guild's events to one shard only, shard `(guild_id >> 22) % total`, and
//! direct messages to shard 0. A bot split across processes gives each process a range of the
//! same total; together they must cover `0..total` exactly once. Without the setting the process
//! runs every shard itself, as many as Discord recommends.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// Shards `first..=last` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRange {
    pub first: u32,
    pub last: u32,
    pub total: u32,
}

impl ShardRange {
    /// The process that holds shard 0 registers the slash commands, so that several processes
    /// of one bot do not each overwrite them.
    pub fn holds_first_shard(&self) -> bool {
        self.first == 0
    }

    /// The shard that gets the events of `guild`.
    pub fn shard_of(guild: u64, total: u32) -> u32 {
        ((guild >> 22) % u64::from(total.max(1))) as u32
    }
}

impl FromStr for ShardRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let usage = "write FIRST-LAST/TOTAL or SHARD/TOTAL, such as 0-1/4 or 3/4";
        let bad = |why: &str| format!("`{s}` is not a shard range: {why}; {usage}");
        let (range, total) = s.trim().split_once('/').ok_or_else(|| bad("the total is missing"))?;
        let number = |t: &str| t.trim().parse::<u32>().map_err(|_| bad(&format!("`{}` is not a number", t.trim())));
        let total = number(total)?;
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let one = number(range)?;
                (one, one)
            }
        };
        if total == 0 {
            return Err(bad("the total must be at least 1"));
        }
        if first > last {
            return Err(bad("the first shard is after the last"));
        }
        if last >= total {
            return Err(bad(&format!("shards are numbered 0 to {} when there are {total}", total - 1)));
        }
        Ok(ShardRange { first, last, total })
    }
}

impl fmt::Display for ShardRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}/{}", self.first, self.total)
        } else {
            write!(f, "{}-{}/{}", self.first, self.last, self.total)
        }
    }
}

impl<'de> Deserialize<'de> for ShardRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_single_shards_parse_and_print_back() {
        for (text, first, last, total) in [("0-1/4", 0, 1, 4), ("3/4", 3, 3, 4), (" 2 - 5 / 6 ", 2, 5, 6), ("0/1", 0, 0, 1)] {
            let r: ShardRange = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!((r.first, r.last, r.total), (first, last, total), "{text}");
            assert_eq!(r.to_string().parse::<ShardRange>(), Ok(r));
        }
    }

    #[test]
    fn a_range_that_cannot_be_run_says_why_and_how_to_write_one() {
        for (text, says) in [
            ("4/4", "numbered 0 to 3"),
            ("0-4/4", "numbered 0 to 3"),
            ("2-1/4", "first shard is after the last"),
            ("1/0", "at least 1"),
            ("1", "total is missing"),
            ("a-1/4", "`a` is not a number"),
        ] {
            let err = text.parse::<ShardRange>().unwrap_err();
            assert!(err.contains(says) && err.contains("0-1/4") && !err.contains('\n'), "{text}: {err}");
        }
    }

    #[test]
    fn only_the_process_with_shard_zero_registers_commands() {
        assert!("0-1/4".parse::<ShardRange>().is_ok_and(|r| r.holds_first_shard()));
        assert!("2-3/4".parse::<ShardRange>().is_ok_and(|r| !r.holds_first_shard()));
    }

    #[test]
    fn a_guild_goes_to_the_shard_discord_documents() {
        // 41771983423143937 >> 22 is 9959216934 (worked out by hand: the id's timestamp part).
        let guild: u64 = 41_771_983_423_143_937;
        assert_eq!([2, 4, 16].map(|total| ShardRange::shard_of(guild, total)), [0, 2, 6]);
        assert_eq!(ShardRange::shard_of(guild, 1), 0);
    }
}
