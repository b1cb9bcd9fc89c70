//! Hub tests on paused time.
