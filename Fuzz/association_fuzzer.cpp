// libFuzzer target over the storage SCP's association layer (scp.cpp): one mn_scp runs for the
// whole process on a loopback port, exactly as the node runs it (listener thread, one thread per
// association, instance and event callbacks), and every input is one TCP connection to it. The
// bytes are what a hostile or broken peer sends: normally PS3.8 PDUs (A-ASSOCIATE-RQ, P-DATA-TF
// carrying DIMSE command and data sets, A-RELEASE-RQ, A-ABORT), often garbage.
//
// The first byte is a set of flags, so that mutations reach DIMSE and C-STORE handling instead of
// dying in the PDU header check:
//   bit 0  prepend a well-formed A-ASSOCIATE-RQ (PS3.8 9.3.2) to MAMBANODE proposing Verification
//          (context 1: Implicit and Explicit VR Little Endian) and CT Image Storage (context 3:
//          Explicit VR Little Endian only; context 5: Implicit VR Little Endian only), so a data
//          set sent on context 3 or 5 is read in a known transfer syntax
//   bit 1  send the first PDU (the prepended request, or else the input's first PDU when its length
//          field, PS3.8 9.3.1, says it is complete), and wait for the answer (A-ASSOCIATE-AC/RJ,
//          A-ABORT) before the rest
//   bit 2  append an A-RELEASE-RQ (PS3.8 9.3.6)
//   bit 3  append an A-ABORT (PS3.8 9.3.8)
//   bit 4  end with a TCP reset (SO_LINGER 0) instead of a half close (shutdown(SHUT_WR))
//   bit 5  write in small pieces: the next byte sets the largest piece, the bytes themselves
//          their sizes, so the SCP reads PDUs split anywhere
//   bit 6  the admission callback refuses the association (resources, calling host or calling
//          AE, chosen by the input's length), reaching DCMTK's A-ASSOCIATE-RJ paths (PS3.8 9.3.4)
// The remaining bytes are sent as they are, between the prefix and the appended PDUs.
//
// Each input finishes before the next begins: the harness reads until the SCP closes the
// connection (half close) or resets at once, then waits until the listener has disposed of the
// connection (a dropped-connection or busy-rejection event, or the admission callback of a worker),
// every association thread has exited and the listener, nudged round its loop once more, has
// joined them and waits for the next connection (so an input's allocations are freed within it,
// and LeakSanitizer runs after every input that ends with more mallocs than frees). What the node
// relies on is checked as it happens: every string handed to a callback is non-NULL and
// terminated, a received instance's file exists when the callback runs (the callback deletes it,
// as the node moves it), no file is left behind in the temporary directory after an association,
// no association thread outlives its connection by more than the SCP's own timeouts allow, and
// every 64 inputs a fresh association must still be accepted. A broken promise aborts, so
// libFuzzer keeps the input as a crash.
//
// Built by Scripts/fuzz with clang -fsanitize=fuzzer,address over scp.cpp and what it links
// (errors.cpp, tls.cpp); DCMTK is the system's uninstrumented library, so coverage guides through
// the shim only. To see into DCMTK all the same, the harness turns what the SCP answers (PDU
// types, A-ASSOCIATE-AC results, RJ and A-ABORT reasons, DIMSE response status) and what it
// reports (event kinds and their messages, digits masked) into libFuzzer extra counters: an
// input that makes DCMTK fail in a new way is kept.
#include "cdicom_network.h"

#include <sanitizer/allocator_interface.h>
#include <sanitizer/lsan_interface.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

enum Flag : uint8_t {
    kAssociate = 0x01,
    kAwaitAnswer = 0x02,
    kRelease = 0x04,
    kAbort = 0x08,
    kReset = 0x10,
    kChunked = 0x20,
    kRefuse = 0x40,
};

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<uint8_t>;

// Limits, well inside Scripts/fuzz's -timeout for this target (30 s) so that a stuck SCP is
// reported by the check that noticed it. The SCP's own ACSE and DIMSE timeouts are 2 s.
constexpr double kSendSeconds = 3;    // writing one input
constexpr double kAnswerSeconds = 2;  // the answer to the first PDU (flag bit 1)
constexpr double kDrainSeconds = 3;   // the SCP closing after our half close
constexpr double kSettleSeconds = 10; // association threads ending after the connection ended
constexpr double kProbeSeconds = 5;   // a probe association being accepted
constexpr unsigned kProbeEvery = 64;  // inputs between probes

// ---------------------------------------------------------------------------------------------
// Feedback from the uninstrumented library: libFuzzer reads this section as extra coverage
// counters after every input (and clears it before the next).
__attribute__((used, section("__libfuzzer_extra_counters"))) uint8_t g_feedback[1 << 12];
std::atomic<bool> g_observing{true}; // off during probes: their answers are not the input's
// MN_FUZZ_VERBOSE=1 prints what the SCP reports and answers, for replaying a finding by hand.
const bool g_verbose = std::getenv("MN_FUZZ_VERBOSE") != nullptr;

uint64_t mix(uint64_t h, uint64_t value) {
    for (int i = 0; i < 8; ++i) {
        h ^= (value >> (8 * i)) & 0xFF;
        h *= 0x100000001B3ULL; // FNV-1a
    }
    return h;
}

uint64_t mixText(uint64_t h, const char *text) {
    // Digit runs are masked: lengths, counts and UIDs in messages must not each become a feature.
    bool inDigits = false;
    for (const char *p = text; *p; ++p) {
        const bool digit = *p >= '0' && *p <= '9';
        if (digit && inDigits) continue;
        inDigits = digit;
        h = mix(h, digit ? '#' : static_cast<unsigned char>(*p));
    }
    return h;
}

void observe(uint64_t feature) {
    if (!g_observing.load(std::memory_order_relaxed)) return;
    uint8_t *counter = &g_feedback[feature % sizeof(g_feedback)];
    const uint8_t value = __atomic_load_n(counter, __ATOMIC_RELAXED);
    if (value < 255) __atomic_store_n(counter, static_cast<uint8_t>(value + 1), __ATOMIC_RELAXED);
}

constexpr uint64_t kSeed = 0xCBF29CE484222325ULL;

// ---------------------------------------------------------------------------------------------
// Leak checks of our own. libFuzzer runs LeakSanitizer after an input that ends with more mallocs
// than frees, but stops for good after 1000 such inputs without a report; DCMTK's own
// (suppressed) leak on malformed presentation contexts gets there within minutes here. So the
// harness counts mallocs and frees itself (sanitizer hooks) and checks every such input.
std::atomic<uint64_t> g_mallocs{0}, g_frees{0};
void countMalloc(const volatile void *, size_t) { g_mallocs.fetch_add(1, std::memory_order_relaxed); }
void countFree(const volatile void *) { g_frees.fetch_add(1, std::memory_order_relaxed); }

// ---------------------------------------------------------------------------------------------
// The SCP under test and the bookkeeping that tells when an input is over.
struct Server {
    mn_scp *scp = nullptr;
    std::thread *thread = nullptr; // never destroyed: joined at exit
    uint16_t port = 0;
    std::string directory;
    std::atomic<bool> runFailed{false};
    std::string runError;
    // Connections the harness opened, and those the listener has disposed of (dropped, rejected
    // as busy, or handed to a worker, which calls the admission callback first).
    std::atomic<uint64_t> opened{0}, settled{0};
    // Association threads started (admission callback) and ended (a thread_local's destructor).
    std::atomic<uint64_t> workersStarted{0}, workersEnded{0};
    std::atomic<int32_t> admission{MN_SCP_ADMIT};
    std::atomic<pid_t> listenerThread{0}; // its kernel thread id, for /proc/self/task
    unsigned inputs = 0;
};
Server g_server;

[[noreturn]] void fail(const char *format, const char *detail = "") {
    std::fprintf(stderr, "association_fuzzer: ");
    std::fprintf(stderr, format, detail);
    std::fprintf(stderr, "\n");
    std::abort();
}

void checkString(const char *s, const char *what) {
    if (!s) fail("%s is NULL", what);
    if (strnlen(s, 1 << 20) == (1 << 20)) fail("%s is not terminated within 1 MiB", what);
}

/// Counts the end of an association thread: constructed on the thread by the admission callback,
/// destroyed when the thread exits.
struct WorkerExit {
    bool armed = false;
    ~WorkerExit() {
        if (armed) g_server.workersEnded.fetch_add(1);
    }
};

int32_t onRequest(void *, const mn_scp_event *request, char *reason, size_t capacity) {
    static thread_local WorkerExit threadEnd;
    if (threadEnd.armed) fail("%s", "two association requests on one association thread");
    threadEnd.armed = true;
    g_server.workersStarted.fetch_add(1);
    g_server.settled.fetch_add(1);
    if (!request || !reason || capacity == 0) fail("%s", "admission callback without request or reason buffer");
    checkString(request->calling_ae, "admission calling_ae");
    checkString(request->called_ae, "admission called_ae");
    checkString(request->peer_address, "admission peer_address");
    checkString(request->message, "admission message");
    const int32_t decision = g_server.admission.load();
    if (decision != MN_SCP_ADMIT) std::snprintf(reason, capacity, "refused by the fuzz harness (%d)", decision);
    return decision;
}

uint16_t onInstance(void *, const mn_scp_instance *instance) {
    if (!instance) fail("%s", "instance callback without instance");
    checkString(instance->temp_path, "instance temp_path");
    checkString(instance->sop_class_uid, "instance sop_class_uid");
    checkString(instance->sop_instance_uid, "instance sop_instance_uid");
    checkString(instance->transfer_syntax_uid, "instance transfer_syntax_uid");
    checkString(instance->calling_ae, "instance calling_ae");
    checkString(instance->called_ae, "instance called_ae");
    checkString(instance->peer_address, "instance peer_address");
    // Either both UIDs were found in the data set, or dataset_error says why not (cdicom.h).
    const bool complete = instance->dataset_sop_class_uid && instance->dataset_sop_instance_uid;
    if (instance->dataset_sop_class_uid) checkString(instance->dataset_sop_class_uid, "instance dataset_sop_class_uid");
    if (instance->dataset_sop_instance_uid)
        checkString(instance->dataset_sop_instance_uid, "instance dataset_sop_instance_uid");
    if (!complete && !instance->dataset_error) fail("%s", "a data set UID is NULL but dataset_error is NULL too");
    if (instance->dataset_error) checkString(instance->dataset_error, "instance dataset_error");
    if (g_verbose)
        std::fprintf(stderr, "instance %s (%s) in %s; data set: %s\n", instance->sop_instance_uid,
                     instance->sop_class_uid, instance->transfer_syntax_uid,
                     instance->dataset_error ? instance->dataset_error : "UIDs found");
    observe(mixText(mix(kSeed, 'I'), instance->transfer_syntax_uid));
    observe(
        mix(mix(kSeed, 'U'), (instance->dataset_sop_class_uid ? 1 : 0) + (instance->dataset_sop_instance_uid ? 2 : 0)));
    if (instance->dataset_error) observe(mixText(mix(kSeed, 'D'), instance->dataset_error));
    // The callee owns the file (the node moves it into the store); this one deletes it.
    if (unlink(instance->temp_path) != 0) fail("the received instance's file is missing: %s", instance->temp_path);
    return 0x0000;
}

void onEvent(void *, const mn_scp_event *event) {
    if (!event) fail("%s", "event callback without event");
    if (event->kind < MN_SCP_ASSOCIATION_ACCEPTED || event->kind > MN_SCP_CONNECTION_DROPPED)
        fail("%s", "event of unknown kind");
    checkString(event->calling_ae, "event calling_ae");
    checkString(event->called_ae, "event called_ae");
    checkString(event->peer_address, "event peer_address");
    checkString(event->message, "event message");
    if (g_verbose)
        std::fprintf(stderr, "event %d association %llu calling '%s' called '%s' peer '%s': %s\n", event->kind,
                     static_cast<unsigned long long>(event->association_id), event->calling_ae, event->called_ae,
                     event->peer_address, event->message);
    // The part after the last ": " is DCMTK's condition text where there is one.
    const char *tail = event->message;
    for (const char *p = event->message; (p = std::strstr(p, ": ")) != nullptr; p += 2) tail = p + 2;
    observe(mixText(mix(kSeed, static_cast<uint64_t>(event->kind)), tail));
    // The listener reports connections it drops or rejects as busy itself (association id 0).
    if (event->kind == MN_SCP_CONNECTION_DROPPED ||
        (event->kind == MN_SCP_ASSOCIATION_REJECTED && event->association_id == 0))
        g_server.settled.fetch_add(1);
}

double secondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

/// Waits until the listener has disposed of every connection and every association thread has
/// ended; false after `seconds`.
bool waitSettled(double seconds) {
    const auto start = Clock::now();
    for (;;) {
        if (g_server.settled.load() == g_server.opened.load() &&
            g_server.workersEnded.load() == g_server.workersStarted.load())
            return true;
        if (secondsSince(start) > seconds) return false;
        usleep(200);
    }
}

bool directoryEmpty(const std::string &path, std::string &first) {
    DIR *dir = opendir(path.c_str());
    if (!dir) fail("cannot open the temporary directory %s", path.c_str());
    bool empty = true;
    while (dirent *entry = readdir(dir)) {
        if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
        first = entry->d_name;
        empty = false;
        break;
    }
    closedir(dir);
    return empty;
}

// ---------------------------------------------------------------------------------------------
// PDUs (PS3.8 9.3): type, reserved, 32-bit big-endian length, then the body.
void put16(Bytes &b, uint16_t v) {
    b.push_back(v >> 8);
    b.push_back(v & 0xFF);
}
void put32(Bytes &b, uint32_t v) {
    put16(b, v >> 16);
    put16(b, v & 0xFFFF);
}
uint32_t get32(const uint8_t *p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

/// A variable item (PS3.8 9.3.2.x): type, reserved, 16-bit length, value.
void putItem(Bytes &b, uint8_t type, const Bytes &value) {
    b.push_back(type);
    b.push_back(0);
    put16(b, static_cast<uint16_t>(value.size()));
    b.insert(b.end(), value.begin(), value.end());
}
Bytes text(const char *s) { return Bytes(s, s + std::strlen(s)); }

void putContext(Bytes &b, uint8_t id, const char *abstractSyntax,
                std::initializer_list<const char *> transferSyntaxes) {
    Bytes value = {id, 0, 0, 0};
    putItem(value, 0x30, text(abstractSyntax));
    for (const char *ts : transferSyntaxes) putItem(value, 0x40, text(ts));
    putItem(b, 0x20, value);
}

constexpr const char *kImplicitLE = "1.2.840.10008.1.2";
constexpr const char *kExplicitLE = "1.2.840.10008.1.2.1";

/// A-ASSOCIATE-RQ (PS3.8 9.3.2) to MAMBANODE: Verification on context 1, CT Image Storage on 3
/// (Explicit VR Little Endian) and 5 (Implicit VR Little Endian), 16 KiB maximum PDU (9.3.2.3).
Bytes associateRQ(const char *calling) {
    Bytes body;
    put16(body, 1); // protocol version
    put16(body, 0);
    char ae[33];
    std::snprintf(ae, sizeof(ae), "%-16s%-16s", "MAMBANODE", calling);
    body.insert(body.end(), ae, ae + 32); // called, calling (space-padded)
    body.insert(body.end(), 32, 0);
    putItem(body, 0x10, text("1.2.840.10008.3.1.1.1")); // DICOM application context
    putContext(body, 1, "1.2.840.10008.1.1", {kImplicitLE, kExplicitLE});
    putContext(body, 3, "1.2.840.10008.5.1.4.1.1.2", {kExplicitLE});
    putContext(body, 5, "1.2.840.10008.5.1.4.1.1.2", {kImplicitLE});
    Bytes user, maxLength;
    put32(maxLength, 16384);
    putItem(user, 0x51, maxLength);
    putItem(user, 0x52, text("2.25.208083236213411745395812963934367216447")); // implementation class UID (PS3.5 B.2)
    putItem(body, 0x50, user);
    Bytes pdu = {0x01, 0};
    put32(pdu, static_cast<uint32_t>(body.size()));
    pdu.insert(pdu.end(), body.begin(), body.end());
    return pdu;
}

const Bytes kReleaseRQ = {0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0};
const Bytes kAbortPDU = {0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0}; // service-user, no reason (9.3.8)

// ---------------------------------------------------------------------------------------------
/// One TCP connection to the SCP: writes while reading (so neither side blocks on a full
/// buffer), and parses what the SCP sends into feedback.
class Connection {
public:
    Connection() {
        fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) fail("socket: %s", std::strerror(errno));
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(g_server.port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd_, reinterpret_cast<sockaddr *>(&address), sizeof(address)) != 0 && !connectInterrupted()) {
            const int error = errno;
            ::close(fd_);
            fd_ = -1;
            errno = error;
            return;
        }
        g_server.opened.fetch_add(1);
        const int one = 1;
        setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    ~Connection() { close(false); }
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    bool connected() const { return fd_ >= 0; }
    bool gone() const { return gone_; }
    size_t pdusReceived() const { return pdus_; }
    uint8_t firstPDUType() const { return firstType_; }

    /// Writes `bytes` (pieces of at most `chunkMax` when non-zero) until done, the peer is gone or
    /// `deadline`.
    void send(const Bytes &bytes, size_t chunkMax, Clock::time_point deadline) {
        size_t offset = 0;
        while (offset < bytes.size() && !gone_ && Clock::now() < deadline) {
            size_t piece = bytes.size() - offset;
            if (chunkMax) piece = std::min(piece, 1 + bytes[offset] % chunkMax);
            pollfd p{fd_, POLLIN | POLLOUT, 0};
            if (::poll(&p, 1, remainingMs(deadline)) <= 0) continue;
            if (p.revents & (POLLIN | POLLHUP | POLLERR)) receive();
            if (gone_ || !(p.revents & POLLOUT)) continue;
            const ssize_t n = ::send(fd_, bytes.data() + offset, piece, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) offset += static_cast<size_t>(n);
            else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) gone_ = true;
            if (chunkMax) sched_yield(); // give the SCP a chance to read this piece on its own
        }
    }

    /// Reads until a PDU more than `before` has arrived, the peer is gone or `deadline`.
    void awaitPDU(size_t before, Clock::time_point deadline) {
        while (pdus_ <= before && !gone_ && Clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, remainingMs(deadline)) > 0) receive();
        }
    }

    /// Half close, then read until the SCP closes or `deadline`.
    void finish(Clock::time_point deadline) {
        if (fd_ < 0) return;
        shutdown(fd_, SHUT_WR);
        while (!gone_ && Clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, remainingMs(deadline)) > 0) receive();
        }
    }

    void close(bool reset) {
        if (fd_ < 0) return;
        if (reset) {
            const linger abortive{1, 0}; // close() sends RST instead of FIN
            setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abortive, sizeof(abortive));
        }
        ::close(fd_);
        fd_ = -1;
    }

private:
    /// A connect() interrupted by a signal (libFuzzer's timer) goes on asynchronously (EINTR):
    /// true once it has succeeded, else false with errno set.
    bool connectInterrupted() {
        if (errno != EINTR) return false;
        pollfd p{fd_, POLLOUT, 0};
        int ready;
        do {
            ready = ::poll(&p, 1, 5000);
        } while (ready < 0 && errno == EINTR);
        int error = ETIMEDOUT;
        socklen_t length = sizeof(error);
        if (ready == 1 && getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
        errno = error;
        return error == 0;
    }

    static int remainingMs(Clock::time_point deadline) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 100));
    }

    void receive() {
        uint8_t buffer[65536];
        for (;;) {
            const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
            if (n > 0) {
                if (in_.size() < (8u << 20)) in_.insert(in_.end(), buffer, buffer + n);
                parse();
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                observe(mix(mix(kSeed, 'C'), n == 0 ? 0 : errno)); // closed or reset
                gone_ = true;
            }
            return;
        }
    }

    void parse() {
        while (in_.size() - parsed_ >= 6) {
            const uint8_t *pdu = in_.data() + parsed_;
            const uint32_t length = get32(pdu + 2);
            if (length > (1u << 20)) { // the SCP never sends this: note it and stop parsing
                observe(mix(mix(kSeed, 'L'), pdu[0]));
                parsed_ = in_.size();
                return;
            }
            if (in_.size() - parsed_ < 6 + size_t(length)) return;
            if (pdus_++ == 0) firstType_ = pdu[0];
            onPDU(pdu[0], pdu + 6, length);
            parsed_ += 6 + size_t(length);
        }
    }

    void onPDU(uint8_t type, const uint8_t *body, uint32_t length) {
        if (g_verbose) std::fprintf(stderr, "answer: PDU type %u, %u bytes\n", type, length);
        observe(mix(mix(kSeed, 'P'), type));
        switch (type) {
        case 0x02: { // A-ASSOCIATE-AC: the result of each presentation context (9.3.3.2)
            size_t accepted = 0;
            for (size_t at = 68; at + 4 <= length;) {
                const uint8_t itemType = body[at];
                const size_t itemLength = (size_t(body[at + 2]) << 8) | body[at + 3];
                if (at + 4 + itemLength > length) break;
                if (itemType == 0x21 && itemLength >= 4) {
                    observe(mix(mix(kSeed, 'A'), body[at + 6]));
                    accepted += body[at + 6] == 0;
                }
                at += 4 + itemLength;
            }
            observe(mix(mix(kSeed, 'N'), std::min<size_t>(accepted, 4)));
            break;
        }
        case 0x03: // A-ASSOCIATE-RJ: result, source, reason (9.3.4)
        case 0x07: // A-ABORT: source, reason (9.3.8)
            if (length >= 4) observe(mix(mix(mix(mix(kSeed, type), body[1]), body[2]), body[3]));
            break;
        case 0x04: // P-DATA-TF: PDVs (9.3.5); command fragments are joined to read the response
            for (size_t at = 0; at + 6 <= length;) {
                const uint32_t itemLength = get32(body + at);
                if (itemLength < 2 || at + 4 + itemLength > length) break;
                const uint8_t header = body[at + 5]; // bit 0: command, bit 1: last fragment (E.2)
                if (header & 1) {
                    command_.insert(command_.end(), body + at + 6, body + at + 4 + itemLength);
                    if (header & 2) onCommand();
                }
                at += 4 + itemLength;
            }
            break;
        default:
            break;
        }
    }

    /// A DIMSE response's command set (PS3.7 E.1, Implicit VR Little Endian): Command Field
    /// (0000,0100) and Status (0000,0900).
    void onCommand() {
        uint32_t field = 0xFFFF, status = 0xFFFF;
        for (size_t at = 0; at + 8 <= command_.size();) {
            const uint8_t *e = command_.data() + at;
            const uint16_t group = e[0] | (e[1] << 8), element = e[2] | (e[3] << 8);
            const uint32_t length = e[4] | (e[5] << 8) | (e[6] << 16) | (uint32_t(e[7]) << 24);
            if (length > command_.size() - at - 8) break;
            if (group == 0 && length == 2 && element == 0x0100) field = e[8] | (e[9] << 8);
            if (group == 0 && length == 2 && element == 0x0900) status = e[8] | (e[9] << 8);
            at += 8 + length;
        }
        if (g_verbose) std::fprintf(stderr, "answer: DIMSE command 0x%04x status 0x%04x\n", field, status);
        observe(mix(mix(mix(kSeed, 'R'), field), status));
        command_.clear();
    }

    int fd_ = -1;
    bool gone_ = false;
    Bytes in_, command_;
    size_t parsed_ = 0, pdus_ = 0;
    uint8_t firstType_ = 0;
};

Clock::time_point after(double seconds) {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

/// True while the listener thread is blocked waiting for a connection (DCMTK waits in poll or
/// select on the listening socket; the harness has no other connection open by then).
bool listenerWaiting() {
    std::ifstream file("/proc/self/task/" + std::to_string(g_server.listenerThread.load()) + "/syscall");
    long number = -1;
    if (!(file >> number)) return false; // "running"
    return number == SYS_poll || number == SYS_select || number == SYS_ppoll || number == SYS_pselect6;
}

/// Ends an input: waits until the listener has taken every connection and every association
/// thread has exited, then makes the listener go once more round its loop (one bare connection,
/// reported as dropped) and waits until it waits for the next connection. By then it has joined
/// the threads and freed what it held for them, so an input that ends with more mallocs than
/// frees really holds on to something, and only such an input is checked for leaks.
void settle(const char *what) {
    const auto counts = [] {
        return "connections " + std::to_string(g_server.opened.load()) + " opened, " +
               std::to_string(g_server.settled.load()) + " taken by the listener; association threads " +
               std::to_string(g_server.workersStarted.load()) + " started, " +
               std::to_string(g_server.workersEnded.load()) + " ended";
    };
    if (!waitSettled(kSettleSeconds)) {
        const std::string why = std::string(what) + " is still being served 10 s after it closed (" + counts() + ")";
        fail("%s", why.c_str());
    }
    const bool observing = g_observing.exchange(false);
    {
        Connection nudge;
        if (!nudge.connected()) fail("the SCP no longer accepts connections: %s", std::strerror(errno));
    }
    if (!waitSettled(kSettleSeconds)) {
        const std::string why = "a bare connection after " + std::string(what) + " was not dropped (" + counts() + ")";
        fail("%s", why.c_str());
    }
    const auto start = Clock::now();
    while (!listenerWaiting()) {
        if (secondsSince(start) > kSettleSeconds)
            fail("the listener does not return to waiting for connections after %s", what);
        usleep(100);
    }
    g_observing = observing;
}

/// A fresh association must be accepted (A-ASSOCIATE-AC) and released within kProbeSeconds.
void probe() {
    g_observing = false;
    g_server.admission = MN_SCP_ADMIT;
    {
        Connection c;
        if (!c.connected()) fail("the SCP no longer accepts connections: %s", std::strerror(errno));
        c.send(associateRQ("FUZZ-PROBE"), 0, after(kProbeSeconds));
        c.awaitPDU(0, after(kProbeSeconds));
        if (c.pdusReceived() == 0 || c.firstPDUType() != 0x02) {
            const std::string what = c.pdusReceived() ? "answered with PDU type " + std::to_string(c.firstPDUType())
                                                      : "no answer within 5 s";
            fail("the SCP no longer accepts associations: %s", what.c_str());
        }
        c.send(kReleaseRQ, 0, after(kProbeSeconds));
        c.finish(after(kProbeSeconds));
    }
    settle("the probe association");
    g_observing = true;
}

uint16_t freePort() {
    const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (s < 0 || bind(s, reinterpret_cast<sockaddr *>(&address), sizeof(address)) != 0 ||
        getsockname(s, reinterpret_cast<sockaddr *>(&address), &length) != 0)
        fail("cannot find a free port: %s", std::strerror(errno));
    ::close(s);
    return ntohs(address.sin_port);
}

void stopServer() {
    if (!g_server.scp) return;
    mn_scp_stop(g_server.scp);
    g_server.thread->join(); // within a second: no association is left
    mn_scp_free(g_server.scp);
    g_server.scp = nullptr;
    rmdir(g_server.directory.c_str());
}

/// Starts the SCP on a free port; true once it accepts connections.
bool startServer() {
    mn_scp_config config{};
    config.ae_title = "MAMBANODE";
    config.port = freePort();
    config.max_associations = 4;
    config.acse_timeout_s = 2;
    config.dimse_timeout_s = 2;
    config.temp_directory = g_server.directory.c_str();
    config.accept_any_calling_ae = 1;
    mn_error err{};
    if (mn_scp_create(&config, onInstance, onEvent, nullptr, &g_server.scp, &err) != MN_OK)
        fail("mn_scp_create: %s", err.message);
    mn_scp_set_admission(g_server.scp, onRequest);
    g_server.port = config.port;
    g_server.runFailed = false;
    g_server.thread = new std::thread([] {
        pthread_setname_np(pthread_self(), "mn-scp-listener");
        g_server.listenerThread = static_cast<pid_t>(syscall(SYS_gettid));
        mn_error runErr{};
        if (mn_scp_run(g_server.scp, &runErr) != MN_OK) {
            g_server.runError = runErr.message;
            g_server.runFailed = true;
        }
    });
    const auto start = Clock::now();
    while (secondsSince(start) < 10 && !g_server.runFailed) {
        Connection c; // accepted and dropped (the listener reports it)
        if (c.connected()) return true;
        usleep(10000);
    }
    g_server.thread->join();
    delete g_server.thread;
    g_server.thread = nullptr;
    mn_scp_free(g_server.scp);
    g_server.scp = nullptr;
    std::fprintf(stderr, "association_fuzzer: port %u: %s\n", unsigned(g_server.port),
                 g_server.runFailed ? g_server.runError.c_str() : "not listening after 10 s");
    return false;
}

/// One input: one connection, served to its end.
void runInput(const uint8_t *data, size_t size) {
    const uint8_t flags = size ? data[0] : 0;
    const uint8_t *rest = size ? data + 1 : data;
    size_t restSize = size ? size - 1 : 0;
    size_t chunkMax = 0;
    if (flags & kChunked) {
        chunkMax = 1 + (restSize ? rest[0] & 0x7F : 0);
        if (restSize) ++rest, --restSize;
    }
    if (++g_server.inputs % kProbeEvery == 0) probe();
    g_server.admission = (flags & kRefuse) ? static_cast<int32_t>(1 + size % 3) : MN_SCP_ADMIT;

    // What is sent before waiting for an answer (flag bit 1), and after. Without the prepended
    // request the input's own first PDU is awaited, when it is complete (else nothing answers it).
    Bytes first, second;
    bool await = false;
    size_t split = 0;
    if (flags & kAssociate) {
        first = associateRQ("FUZZER");
        await = (flags & kAwaitAnswer) != 0;
    } else if ((flags & kAwaitAnswer) && restSize >= 6 && 6 + uint64_t(get32(rest + 2)) <= restSize) {
        split = 6 + size_t(get32(rest + 2));
        await = true;
    }
    first.insert(first.end(), rest, rest + split);
    Bytes &tail = await ? second : first;
    tail.insert(tail.end(), rest + split, rest + restSize);
    if (flags & kRelease) tail.insert(tail.end(), kReleaseRQ.begin(), kReleaseRQ.end());
    if (flags & kAbort) tail.insert(tail.end(), kAbortPDU.begin(), kAbortPDU.end());

    const auto started = Clock::now();
    {
        Connection c;
        if (!c.connected()) fail("the SCP no longer accepts connections: %s", std::strerror(errno));
        const auto sendDeadline = after(kSendSeconds);
        c.send(first, chunkMax, sendDeadline);
        if (await) {
            c.awaitPDU(0, after(kAnswerSeconds));
            c.send(second, chunkMax, sendDeadline);
        }
        if (flags & kReset) c.close(true);
        else c.finish(after(kDrainSeconds));
    }
    // The input is over when the SCP has let go of the connection: nothing may be left running.
    settle("the input's connection");
    if (g_verbose)
        std::fprintf(stderr, "input: flags 0x%02x, %zu bytes, %.0f ms\n", flags, size, 1000 * secondsSince(started));
    std::string leftover;
    if (!directoryEmpty(g_server.directory, leftover))
        fail("a received file was left in the temporary directory: %s", leftover.c_str());
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    mn_initialize(0);
    __sanitizer_install_malloc_and_free_hooks(countMalloc, countFree);
    char directory[] = "/dev/shm/mn-association-fuzz-XXXXXX";
    if (!mkdtemp(directory)) fail("mkdtemp: %s", std::strerror(errno));
    g_server.directory = directory;
    bool started = false;
    for (int attempt = 0; attempt < 10 && !started; ++attempt) started = startServer(); // port races
    if (!started) fail("%s", "the SCP could not be started");
    probe();
    std::atexit(stopServer);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint64_t mallocs = g_mallocs.load(), frees = g_frees.load();
    runInput(data, size);
    if (g_mallocs.load() - mallocs > g_frees.load() - frees && __lsan_do_recoverable_leak_check())
        fail("%s", "LeakSanitizer reports a leak in this input (above)");
    return 0;
}
