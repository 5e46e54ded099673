// DICOM TLS (PS3.15 B.9, BCP 195 profiles of PS3.15 B.12) through DCMTK's dcmtls over OpenSSL.
//
// One transport layer per SCP listener and per SCU association attempt. The layer is DCMTK's
// DcmTLSTransportLayer with two additions it lacks in 3.6.7:
// - a record of why a handshake failed. DCMTK's listener only logs it and hands us the dropped
//   association (scp.cpp), and an SCU gets a bare "TLS error"; our connection class keeps the
//   OpenSSL reason and the certificate verification result in a thread_local, which is correct
//   because DCMTK runs the server handshake on the listener thread inside ASC_receiveAssociation
//   and the client handshake on the thread calling negotiateAssociation.
// - a host-name check for the SCU. DCMTK 3.6.7 verifies the peer's chain but not that the
//   certificate belongs to the host we dialled; as tlslayer.h's getNativeHandle() documentation
//   suggests, we set the expected name on the context's X509_VERIFY_PARAM, so OpenSSL's chain
//   verification also runs its host (X509_check_host) or IP (X509_check_ip_asc) check and the
//   handshake fails on a mismatch.
#include "network_internal.h"

#include "dcmtk/dcmnet/dcmtrans.h"
#include "dcmtk/dcmtls/tlslayer.h"
#include "dcmtk/dcmtls/tlstrans.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <functional>
#include <mutex>
#include <string>

namespace {

thread_local std::string t_tlsFailure;
thread_local std::function<void(const std::string &, const std::string &)> t_serverHandshakeFailed;

/// "127.0.0.1" for the peer of a connected socket; "" when unknown.
std::string peerAddress(int socket) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    if (getpeername(socket, reinterpret_cast<sockaddr *>(&address), &length) != 0) return "";
    char text[INET6_ADDRSTRLEN] = "";
    if (address.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in *>(&address)->sin_addr, text, sizeof(text));
    else if (address.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6 *>(&address)->sin6_addr, text, sizeof(text));
    return text;
}

/// DCMTK's TLS connection, remembering why a handshake failed.
class RecordingTLSConnection : public DcmTLSConnection {
public:
    RecordingTLSConnection(DcmNativeSocketType socket, SSL *ssl) : DcmTLSConnection(socket, ssl), ssl_(ssl) {}

    OFCondition serverSideHandshake() override {
        OFCondition cond = DcmTLSConnection::serverSideHandshake();
        if (cond.bad()) {
            const std::string peer = peerAddress(static_cast<int>(getSocket()));
            const std::string why = reason(cond);
            t_tlsFailure = peer + "\t" + why;
            if (t_serverHandshakeFailed) t_serverHandshakeFailed(peer, why);
        }
        return cond;
    }

    OFCondition clientSideHandshake() override {
        OFCondition cond = DcmTLSConnection::clientSideHandshake();
        if (cond.bad()) t_tlsFailure = peerAddress(static_cast<int>(getSocket())) + "\t" + reason(cond);
        return cond;
    }

private:
    std::string reason(const OFCondition &cond) const {
        std::string why = std::string("TLS handshake failed: ") + cond.text();
        const long verify = SSL_get_verify_result(ssl_);
        if (verify != X509_V_OK)
            why += std::string(" (peer certificate: ") + X509_verify_cert_error_string(verify) + ")";
        return why;
    }

    SSL *ssl_; // owned by DcmTLSConnection
};

/// DcmTLSTransportLayer whose connections are RecordingTLSConnections. createConnection does
/// what DCMTK 3.6.7's does (SSL_new on the layer's context, SSL_set_fd) with our class.
class RecordingTLSLayer : public DcmTLSTransportLayer {
public:
    RecordingTLSLayer(T_ASC_NetworkRole role) : DcmTLSTransportLayer(role, nullptr, OFFalse) {}

    DcmTransportConnection *createConnection(DcmNativeSocketType socket, OFBool useSecureLayer) override {
        if (!useSecureLayer) return new DcmTCPConnection(socket);
        SSL_CTX *context = getNativeHandle();
        if (!context) return nullptr;
        SSL *ssl = SSL_new(context);
        if (!ssl) return nullptr;
        SSL_set_fd(ssl, static_cast<int>(socket));
        return new RecordingTLSConnection(socket, ssl);
    }
};

/// A key file must be ours alone: a key other local users can read is a stolen identity
/// (BCP 195 §7; the same rule as OpenSSH's for identity files).
mn_status checkKeyFile(const char *path, mn_error *err) {
    struct stat info {};
    if (stat(path, &info) != 0)
        return mn::fail(err, MN_ERR_TLS, "private key file %s cannot be read: %s", path, std::strerror(errno));
    if (info.st_mode & (S_IRWXG | S_IRWXO))
        return mn::fail(err, MN_ERR_TLS,
                        "private key file %s is accessible by group or others (mode %04o); chmod 600 it", path,
                        static_cast<unsigned>(info.st_mode & 07777));
    return MN_OK;
}

} // namespace

namespace mn {

void onServerHandshakeFailure(std::function<void(const std::string &, const std::string &)> handler) {
    t_serverHandshakeFailed = std::move(handler);
}

std::string takeTLSFailure() {
    std::string failure;
    failure.swap(t_tlsFailure);
    return failure;
}

std::unique_ptr<DcmTransportLayer> makeTLSLayer(const mn_tls_config &config, bool acceptor, const char *verifyName,
                                                mn_status &status, mn_error *err) {
    static std::once_flag openssl;
    std::call_once(openssl, [] { DcmTLSTransportLayer::initializeOpenSSL(); });
    status = MN_OK;
    const bool haveCertificate = config.certificate_file && *config.certificate_file;
    const bool haveKey = config.private_key_file && *config.private_key_file;
    if (haveCertificate != haveKey) {
        status = fail(err, MN_ERR_ARGUMENT, "TLS needs both a certificate and its private key, or neither");
        return nullptr;
    }
    if (acceptor && !haveCertificate) {
        status = fail(err, MN_ERR_ARGUMENT, "a TLS listener needs a certificate and a private key");
        return nullptr;
    }
    if (config.verify_peer && !(config.ca_file && *config.ca_file)) {
        status = fail(err, MN_ERR_ARGUMENT, "verifying the TLS peer needs a CA bundle");
        return nullptr;
    }
    if (haveKey && (status = checkKeyFile(config.private_key_file, err)) != MN_OK) return nullptr;

    auto layer = std::make_unique<RecordingTLSLayer>(acceptor ? NET_ACCEPTOR : NET_REQUESTOR);
    if (!*layer) {
        status = fail(err, MN_ERR_TLS, "cannot create an OpenSSL context");
        return nullptr;
    }
    if (config.ca_file && *config.ca_file) {
        OFCondition cond = layer->addTrustedCertificateFile(config.ca_file, DCF_Filetype_PEM);
        if (cond.bad()) {
            status = fail(err, MN_ERR_TLS, "CA bundle %s cannot be loaded: %s", config.ca_file, cond.text());
            return nullptr;
        }
        if (acceptor) layer->addTrustedClientCertificateFile(config.ca_file); // names the CAs in the request
    }
    if (haveCertificate) {
        layer->setPrivateKeyPasswd(""); // never prompt on the console; keys are unencrypted, guarded by mode
        OFCondition cond = layer->setPrivateKeyFile(config.private_key_file, DCF_Filetype_PEM);
        if (cond.bad()) {
            status =
                fail(err, MN_ERR_TLS, "private key file %s cannot be loaded: %s", config.private_key_file, cond.text());
            return nullptr;
        }
        cond = layer->setCertificateFile(config.certificate_file, DCF_Filetype_PEM);
        if (cond.bad()) {
            status =
                fail(err, MN_ERR_TLS, "certificate file %s cannot be loaded: %s", config.certificate_file, cond.text());
            return nullptr;
        }
        if (!layer->checkPrivateKeyMatchesCertificate()) {
            status = fail(err, MN_ERR_TLS, "private key %s does not match certificate %s", config.private_key_file,
                          config.certificate_file);
            return nullptr;
        }
    }
    // Non-downgrading BCP 195: TLS 1.2+, no fallback to the retired profiles (PS3.15 B.12).
    OFCondition cond = layer->setTLSProfile(TSP_Profile_BCP195_ND);
    if (cond.good()) cond = layer->activateCipherSuites();
    if (cond.bad()) {
        status = fail(err, MN_ERR_TLS, "cannot activate the BCP 195 ciphersuites: %s", cond.text());
        return nullptr;
    }
    layer->setCertificateVerification(config.verify_peer ? DCV_requireCertificate : DCV_ignoreCertificate);
    if (verifyName && *verifyName) {
        X509_VERIFY_PARAM *param = SSL_CTX_get0_param(layer->getNativeHandle());
        in6_addr probe{};
        const bool isAddress =
            inet_pton(AF_INET, verifyName, &probe) == 1 || inet_pton(AF_INET6, verifyName, &probe) == 1;
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        const int ok = isAddress ? X509_VERIFY_PARAM_set1_ip_asc(param, verifyName)
                                 : X509_VERIFY_PARAM_set1_host(param, verifyName, 0);
        if (ok != 1) {
            status = fail(err, MN_ERR_TLS, "cannot set the expected peer name '%s'", verifyName);
            return nullptr;
        }
    }
    return layer;
}

} // namespace mn
