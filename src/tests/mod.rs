//! Tests that cross the layers without a socket: each data format read by the real
//! loader and asked through the real answer logic.

mod formats;
