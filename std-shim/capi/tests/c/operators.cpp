// The C++ allocation operators with libmasu.so preloaded: every form of
// new and delete reaches masu (malloc_usable_size and masu's own counters
// see the blocks), and a failing new keeps the standard's behaviour (the
// new_handler is called, std::bad_alloc is thrown, nothrow forms return
// null). Run with MASU_MEMORY_LIMIT so that a large request fails.
//
// Prints "operators: N passed, M failed".
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <malloc.h>
#include <new>

static int passed, failed;

#define CHECK(cond)                                                      \
    do {                                                                 \
        if (cond) {                                                      \
            passed++;                                                    \
        } else {                                                         \
            failed++;                                                    \
            std::fprintf(stderr, "FAIL line %d: %s\n", __LINE__, #cond); \
        }                                                                \
    } while (0)

// True when `p` is a block of the preloaded libmasu: its exported
// operator must be the one the program binds to.
static bool operator_is_masu(const char *sym) {
    void *f = dlsym(RTLD_DEFAULT, sym);
    Dl_info info;
    return f && dladdr(f, &info) && info.dli_fname && std::strstr(info.dli_fname, "libmasu");
}

struct alignas(256) Wide {
    char bytes[256];
};

static int handler_calls;
static void handler() {
    handler_calls++;
    std::set_new_handler(nullptr); // the next failure throws
}

int main() {
    // The program binds to masu's operators, not libstdc++'s.
    const char *syms[] = {"_Znwm", "_Znam", "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm",
                          "_ZnwmSt11align_val_t", "_ZdlPvSt11align_val_t",
                          "_ZnwmRKSt9nothrow_t"};
    for (const char *s : syms) {
        bool ours = operator_is_masu(s);
        if (!ours) std::fprintf(stderr, "not masu's: %s\n", s);
        CHECK(ours);
    }

    // Plain, array, sized and nothrow forms hand out usable blocks.
    for (std::size_t n = 0; n < 5000; n += 97) {
        char *a = static_cast<char *>(::operator new(n));
        char *b = new char[n + 1];
        char *c = static_cast<char *>(::operator new(n, std::nothrow));
        CHECK(a && b && c);
        CHECK(malloc_usable_size(a) >= n && malloc_usable_size(b) >= n + 1);
        std::memset(a, 1, n);
        std::memset(b, 2, n + 1);
        std::memset(c, 3, n);
        ::operator delete(a, n);
        delete[] b;
        ::operator delete(c, std::nothrow);
    }
    CHECK(::operator new(0) != ::operator new(0)); // distinct, non-null

    // Over-aligned types use the aligned forms.
    Wide *w = new Wide;
    Wide *wa = new Wide[3];
    CHECK(reinterpret_cast<std::uintptr_t>(w) % 256 == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(wa) % 256 == 0);
    delete w;
    delete[] wa;
    void *al = ::operator new(100, std::align_val_t(4096), std::nothrow);
    CHECK(al && reinterpret_cast<std::uintptr_t>(al) % 4096 == 0);
    ::operator delete(al, std::align_val_t(4096));

    // Failure: beyond MASU_MEMORY_LIMIT. nothrow gives null...
    const std::size_t huge = std::size_t(1) << 40;
    CHECK(::operator new(huge, std::nothrow) == nullptr);
    CHECK(::operator new[](huge, std::nothrow) == nullptr);
    CHECK(::operator new(huge, std::align_val_t(64), std::nothrow) == nullptr);
    // ... the throwing forms call the handler, then throw bad_alloc.
    std::set_new_handler(handler);
    bool threw = false;
    try {
        void *p = ::operator new(huge);
        std::printf("unexpected block %p\n", p);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    CHECK(handler_calls == 1);
    threw = false;
    try {
        char *p = new char[huge];
        std::printf("unexpected block %p\n", static_cast<void *>(p));
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    threw = false;
    try {
        void *p = ::operator new(huge, std::align_val_t(64));
        std::printf("unexpected block %p\n", p);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    // And allocation still works afterwards.
    int *after = new int(7);
    CHECK(after && *after == 7);
    delete after;

    std::printf("operators: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
