//! The scheduler: tasks from `hooks/` run on cron, interval and one-shot schedules, each due
//! run claimed in the store so it happens once.

pub mod runner;
pub mod schedule;
