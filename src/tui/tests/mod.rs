//! Console tests: `App::update` per action, and snapshots of every screen driven by a recorded
//! event sequence (no wall clock: the App's clock is set from the events).

mod ctk;
mod event_loop;
mod fixture;
mod snapshots;
mod update;
