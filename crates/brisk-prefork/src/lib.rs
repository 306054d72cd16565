//! brisk-prefork will hold the multi-process prefork supervisor, generic
//! over the serve function.
