// A TLS byte stream to a non-DICOM peer: the audit trail's syslog receiver (RFC 5425, "TLS
// Transport Mapping for Syslog", which IHE ATNA names for audit records). It reuses the DICOM
// TLS layer of tls.cpp — the BCP 195 non-downgrading profile, the CA bundle, the host-name check
// and the key-permission rule — so one TLS policy covers every connection the node makes.
#include "network_internal.h"

#include "dcmtk/dcmnet/dcmtrans.h"
#include "dcmtk/dcmtls/tlslayer.h"

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

struct mn_tls_stream {
    std::unique_ptr<DcmTransportLayer> layer;
    std::unique_ptr<DcmTransportConnection> connection;
};

namespace {

/// A connected TCP socket to host:port within timeout_ms, or -1 with `why` set.
int connectWithin(const char *host, uint16_t port, int timeoutMs, std::string &why) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *list = nullptr;
    const std::string service = std::to_string(port);
    if (int rc = getaddrinfo(host, service.c_str(), &hints, &list); rc != 0) {
        why = gai_strerror(rc);
        return -1;
    }
    int result = -1;
    for (addrinfo *info = list; info && result < 0; info = info->ai_next) {
        int fd = socket(info->ai_family, info->ai_socktype | SOCK_CLOEXEC, info->ai_protocol);
        if (fd < 0) continue;
        const int flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        int rc = connect(fd, info->ai_addr, info->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            pollfd p{fd, POLLOUT, 0};
            rc = poll(&p, 1, timeoutMs) == 1 ? 0 : -1;
            int soError = 0;
            socklen_t length = sizeof(soError);
            if (rc == 0 && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length) != 0 || soError != 0)) {
                errno = soError;
                rc = -1;
            } else if (rc != 0) {
                errno = ETIMEDOUT;
            }
        }
        if (rc == 0) {
            fcntl(fd, F_SETFL, flags); // blocking again: the handshake and writes use timeouts below
            result = fd;
        } else {
            why = std::strerror(errno);
            close(fd);
        }
    }
    freeaddrinfo(list);
    return result;
}

/// Runs `body` with SIGPIPE blocked on this thread and discards a SIGPIPE it raised: a peer that
/// closed the connection must not kill the node (SSL_write writes to the socket with write(2)).
template <typename Body> auto withoutSIGPIPE(Body body) {
    sigset_t pipe, old;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old);
    auto result = body();
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) && !sigismember(&old, SIGPIPE)) {
        timespec zero{0, 0};
        sigtimedwait(&pipe, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return result;
}

/// The body's status; a C++ exception becomes MN_ERR_INTERNAL (none may cross into Swift).
template <typename Body> mn_status guarded(mn_error *err, Body body) {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return mn::fail(err, MN_ERR_INTERNAL, "out of memory");
    } catch (const std::exception &e) {
        return mn::fail(err, MN_ERR_INTERNAL, "internal error: %s", e.what());
    } catch (...) {
        return mn::fail(err, MN_ERR_INTERNAL, "internal error: unknown C++ exception");
    }
}

} // namespace

extern "C" mn_status mn_tls_stream_open(const char *host, uint16_t port, const mn_tls_config *config,
                                        const char *server_name, int32_t timeout_ms, mn_tls_stream **out,
                                        mn_error *err) {
    return guarded(err, [&]() -> mn_status {
        if (!host || !*host || !config || !out)
            return mn::fail(err, MN_ERR_ARGUMENT, "host, TLS settings and out are required");
        *out = nullptr;
        if (!config->verify_peer) return mn::fail(err, MN_ERR_ARGUMENT, "a TLS stream always verifies its peer");
        const char *expected = server_name && *server_name ? server_name : host;
        mn_status status = MN_OK;
        auto stream = std::make_unique<mn_tls_stream>();
        stream->layer = mn::makeTLSLayer(*config, false, expected, status, err);
        if (!stream->layer) return status;
        std::string why;
        const int fd = connectWithin(host, port, timeout_ms, why);
        if (fd < 0) return mn::fail(err, MN_ERR_NETWORK, "cannot connect to %s:%u: %s", host, port, why.c_str());
        timeval limit{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
        stream->connection.reset(stream->layer->createConnection(fd, OFTrue));
        if (!stream->connection) {
            close(fd);
            return mn::fail(err, MN_ERR_TLS, "cannot create a TLS connection to %s:%u", host, port);
        }
        OFCondition cond = withoutSIGPIPE([&] { return stream->connection->clientSideHandshake(); });
        if (cond.bad()) {
            std::string failure = mn::takeTLSFailure();
            const size_t tab = failure.find('\t');
            if (tab != std::string::npos) failure = failure.substr(tab + 1);
            stream->connection->close();
            return mn::fail(err, MN_ERR_TLS, "TLS handshake with %s:%u failed: %s", host, port,
                            failure.empty() ? cond.text() : failure.c_str());
        }
        *out = stream.release();
        return MN_OK;
    });
}

extern "C" mn_status mn_tls_stream_write(mn_tls_stream *stream, const void *bytes, size_t count, mn_error *err) {
    return guarded(err, [&]() -> mn_status {
        if (!stream || !stream->connection || (!bytes && count)) return mn::fail(err, MN_ERR_ARGUMENT, "no stream");
        auto *cursor = static_cast<char *>(const_cast<void *>(bytes));
        size_t left = count;
        while (left > 0) {
            const ssize_t n = withoutSIGPIPE([&] { return stream->connection->write(cursor, left); });
            if (n <= 0) return mn::fail(err, MN_ERR_NETWORK, "the TLS peer closed the connection or timed out");
            cursor += n;
            left -= static_cast<size_t>(n);
        }
        return MN_OK;
    });
}

extern "C" void mn_tls_stream_close(mn_tls_stream *stream) {
    if (!stream) return;
    try {
        if (stream->connection)
            withoutSIGPIPE([&] {
                stream->connection->close();
                return 0;
            });
    } catch (...) {}
    delete stream;
}
