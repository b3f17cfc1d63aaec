//! Generated code for the `eidas.bridge.v1` package. No logic lives here.
