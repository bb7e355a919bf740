//! libpq brings OpenSSL, and OpenSSL registers an exit handler
//! (`OPENSSL_cleanup`) that frees state threads still alive at exit hold:
//! the pool's workers, the LISTEN thread. The process then crashes on its
//! way out (SIGSEGV after `main` returns, about one exit in four with a
//! listener running). OpenSSL can be told, at its first initialisation, not
//! to register that handler; the OS reclaims its memory at exit anyway.

use std::ffi::{c_int, c_void};
use std::sync::Once;

/// `OPENSSL_INIT_NO_ATEXIT` (OpenSSL 1.1.1 and later).
const NO_ATEXIT: u64 = 0x0008_0000;

/// Call before the first PostgreSQL connection of the process. Does nothing
/// if OpenSSL is not loaded.
pub fn skip_cleanup_at_exit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Looked up rather than linked: libcrypto is libpq's dependency,
        // not ours, and may be absent.
        // SAFETY: a NUL-terminated name; a symbol found is OpenSSL's
        // `int OPENSSL_init_crypto(uint64_t, const OPENSSL_INIT_SETTINGS *)`.
        unsafe {
            let symbol = libc::dlsym(libc::RTLD_DEFAULT, c"OPENSSL_init_crypto".as_ptr());
            if symbol.is_null() {
                return;
            }
            let init: extern "C" fn(u64, *const c_void) -> c_int = std::mem::transmute(symbol);
            init(NO_ATEXIT, std::ptr::null());
        }
    });
}
