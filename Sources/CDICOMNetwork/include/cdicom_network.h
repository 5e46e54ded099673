/*
 * cdicom_network.h — DICOM networking: storage SCP and SCU, DICOM TLS, a TLS byte stream (dcmnet, dcmtls).
 *
 * Part of the C boundary between MambaNode's Swift code and DCMTK (conventions in cdicom.h, which
 * this header builds on). Linked libraries: dcmnet, dcmtls, OpenSSL.
 */
#ifndef MAMBANODE_CDICOM_NETWORK_H
#define MAMBANODE_CDICOM_NETWORK_H

#include "cdicom.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Storage SCP (an accept loop with one DcmThreadSCP per association, docs/platform-notes.md)
 *
 * One listener thread accepts TCP connections and runs each association on a thread it owns
 * and joins (at most max_associations at once; PS3.8 A-ASSOCIATE-RJ "local limit exceeded"
 * beyond that).
 * Workers negotiate every storage SOP class of DCMTK's dcmAllStorageSOPClassUIDs plus
 * Verification, each with the native and compressed transfer syntaxes listed in scp.cpp, so a
 * modality never has to decompress. Callbacks run on worker threads, concurrently.
 * ------------------------------------------------------------------------------------------- */

typedef struct mn_scp mn_scp;

/* DICOM TLS (PS3.15 B.9 and the BCP 195 profiles of PS3.15 B.12): DCMTK's dcmtls over OpenSSL with
 * the Non-downgrading BCP 195 profile (TSP_Profile_BCP195_ND: TLS 1.2 or newer, AES-GCM ECDHE/DHE
 * suites only), so TLS 1.0/1.1 and the retired Basic/AES profiles are refused. Files are PEM. The
 * private key must be unencrypted and not accessible by group or others (mode 0600 or stricter):
 * otherwise MN_ERR_TLS naming the file. All strings are borrowed for the duration of the call. */
typedef struct mn_tls_config {
    const char *certificate_file; /* our certificate; required for an SCP, optional for an SCU */
    const char *private_key_file; /* its key; given exactly when certificate_file is */
    const char *ca_file;          /* CAs trusted for the peer's certificate; NULL: none */
    int32_t verify_peer;          /* 1: the peer must present a certificate that chains to ca_file */
} mn_tls_config;

typedef struct mn_scp_config {
    const char *ae_title; /* called AE title we answer to (others are rejected) */
    uint16_t port;
    uint32_t max_associations;              /* worker threads; further associations are rejected */
    uint32_t max_pdu;                       /* 0 = DCMTK default */
    uint32_t acse_timeout_s;                /* 0 = DCMTK default */
    uint32_t dimse_timeout_s;               /* 0 = blocking */
    const char *temp_directory;             /* where incoming instances are streamed before the callback */
    const char *const *allowed_calling_aes; /* NULL-free array */
    size_t allowed_calling_ae_count;
    int32_t accept_any_calling_ae; /* 1: ignore the list (only when configured so) */
    const mn_tls_config *tls;      /* NULL: plain TCP; else every connection must complete a TLS
                                          handshake before its association request is read */
} mn_scp_config;

typedef struct mn_scp_instance {
    const char *temp_path;           /* the received file (meta header + dataset), not yet fsync'd */
    const char *sop_class_uid;       /* as sent in the C-STORE request; untrusted */
    const char *sop_instance_uid;    /* as sent in the C-STORE request; untrusted */
    const char *transfer_syntax_uid; /* of the accepted presentation context */
    /* (0008,0016) and (0008,0018) as found in the received data set, or NULL when the file could
     * not be parsed up to them; then dataset_error says why. Untrusted. */
    const char *dataset_sop_class_uid;
    const char *dataset_sop_instance_uid;
    const char *dataset_error;
    const char *calling_ae;
    const char *called_ae;
    const char *peer_address;
    uint64_t association_id;
} mn_scp_instance;

/* Called on a DCMTK worker thread for every instance received, before the C-STORE response is
 * sent; returns the DIMSE status to send (PS3.7 C.4.2.1.4 / PS3.4 B.2.3: 0x0000 success,
 * 0xA700 out of resources, 0xA900 data set does not match SOP class, 0xC000 cannot understand).
 * All strings are borrowed for the duration of the call. The callee owns the file at temp_path
 * from then on (moves or deletes it). */
typedef uint16_t (*mn_scp_instance_callback)(void *context, const mn_scp_instance *instance);

typedef enum mn_scp_event_kind {
    MN_SCP_ASSOCIATION_ACCEPTED = 1,
    MN_SCP_ASSOCIATION_REJECTED = 2, /* message: the reason (PS3.8 A-ASSOCIATE-RJ) */
    MN_SCP_ASSOCIATION_RELEASED = 3,
    MN_SCP_ASSOCIATION_ABORTED = 4, /* by the peer (A-ABORT) or by us after a DIMSE error */
    MN_SCP_ECHO = 5,
    MN_SCP_ERROR = 6,             /* message: what failed (receiving an instance, ...) */
    MN_SCP_TLS_FAILED = 7,        /* a connection to a TLS listener failed its handshake (no or an
                                          untrusted client certificate, TLS < 1.2, plain TCP); message: why */
    MN_SCP_CONNECTION_DROPPED = 8 /* a TCP connection ended without a valid A-ASSOCIATE-RQ (closed or
                                          reset at once, as health checks and port scans do; garbage;
                                          nothing within the ACSE timeout); only peer_address is known;
                                          message: why */
} mn_scp_event_kind;

typedef struct mn_scp_event {
    int32_t kind;            /* mn_scp_event_kind */
    uint64_t association_id; /* 0 when no association was started */
    const char *calling_ae;  /* borrowed; "" when unknown */
    const char *called_ae;
    const char *peer_address;
    const char *message; /* reason, for rejections, aborts and errors; else "" */
} mn_scp_event;

/* Called on the listener or a worker thread; strings are borrowed for the duration of the call. */
typedef void (*mn_scp_event_callback)(void *context, const mn_scp_event *event);

/* What the admission callback decides for an association request (asked before DCMTK checks the
 * called and calling AE titles, so a node short of disk refuses everyone alike). Each refusal is sent as the A-ASSOCIATE-RJ PS3.8 9.3.4 prescribes. */
typedef enum mn_scp_admission {
    MN_SCP_ADMIT = 0,
    /* A local resource is short (e.g. free disk below the threshold): rejected-transient (2),
     * DICOM UL service-provider, presentation related (3), local-limit-exceeded (2). The peer may retry. */
    MN_SCP_REFUSE_RESOURCES = 1,
    /* The peer's address is not allowed: rejected-permanent (1), DICOM UL service-user (1),
     * no-reason-given (1) (PS3.8 has no reason code for addresses). */
    MN_SCP_REFUSE_CALLING_HOST = 2,
    /* The calling AE title is not allowed: rejected-permanent (1), service-user (1),
     * calling-AE-title-not-recognized (3). */
    MN_SCP_REFUSE_CALLING_AE = 3
} mn_scp_admission;

/* Called on a worker thread for every association request before negotiation; returns an
 * mn_scp_admission and, for refusals, may write a reason (NUL-terminated, at most `capacity`
 * bytes) into `reason`, reported with MN_SCP_ASSOCIATION_REJECTED. NULL admits everyone the AE
 * title checks admit. */
typedef int32_t (*mn_scp_admission_callback)(void *context, const mn_scp_event *request, char *reason, size_t capacity);

/* Configure an SCP (nothing is opened yet). `context` is passed back to the callbacks and must
 * outlive the mn_scp. Errors: MN_ERR_ARGUMENT (bad configuration). */
mn_status mn_scp_create(const mn_scp_config *config, mn_scp_instance_callback on_instance,
                        mn_scp_event_callback on_event, void *context, mn_scp **out, mn_error *err);

/* Installs the admission callback (before mn_scp_run; `context` as given to mn_scp_create). */
void mn_scp_set_admission(mn_scp *scp, mn_scp_admission_callback on_request);

/* Listen and serve until mn_scp_stop is called; returns once every association has ended.
 * Blocks the calling thread. Errors: MN_ERR_NETWORK (port cannot be opened). */
mn_status mn_scp_run(mn_scp *scp, mn_error *err);

/* Ask a running (or about to run) SCP to stop: new associations are refused, current ones are
 * served to their end, then mn_scp_run returns (within a second of the last one ending).
 * Thread-safe and async-signal-safe (one atomic store); returns at once. */
void mn_scp_stop(mn_scp *scp);

/* Release an SCP that is not running. NULL is accepted. */
void mn_scp_free(mn_scp *scp);

/* What the storage SCP accepts, for the Conformance Statement and its test: borrowed static
 * strings (do not free). Returns the count and points *list at the array. */
size_t mn_scp_accepted_transfer_syntaxes(const char *const **list);
size_t mn_scp_accepted_sop_classes(const char *const **list);

/* ---------------------------------------------------------------------------------------------
 * Storage SCU (DcmStorageSCU)
 * ------------------------------------------------------------------------------------------- */

typedef enum mn_scu_decompression {
    MN_SCU_DECOMPRESS_NEVER = 0,    /* propose only the file's transfer syntax */
    MN_SCU_DECOMPRESS_LOSSLESS = 1, /* also propose uncompressed for losslessly compressed files */
    MN_SCU_DECOMPRESS_ALL = 2       /* also for lossy ones */
} mn_scu_decompression;

typedef struct mn_scu_config {
    const char *calling_ae;
    const char *called_ae;
    const char *host;
    uint16_t port;
    uint32_t max_pdu;            /* 0 = DCMTK default */
    uint32_t connect_timeout_s;  /* 0 = system default */
    uint32_t acse_timeout_s;     /* 0 = DCMTK default */
    uint32_t dimse_timeout_s;    /* 0 = blocking */
    int32_t decompression;       /* mn_scu_decompression: fallback when the peer refuses */
    const mn_tls_config *tls;    /* NULL: plain TCP; else TLS, verify_peer should be 1 */
    const char *tls_server_name; /* the DNS name or IP address the peer's certificate must carry
                                          (checked with OpenSSL's host/IP check); NULL: `host` */
} mn_scu_config;

typedef struct mn_scu_result {
    char *path;                /* owned by the results array */
    char *sop_class_uid;       /* NULL when the file could not be read */
    char *sop_instance_uid;    /* NULL when the file could not be read */
    char *transfer_syntax_uid; /* the one it was sent in; NULL when not sent */
    uint16_t dimse_status;     /* 0x0000 success; warnings 0xB000.. ; failures otherwise */
    int32_t sent;              /* 1 when a C-STORE request was sent and answered */
    int32_t error_code;        /* mn_status why it was not sent (MN_ERR_NOT_DICOM, MN_ERR_REFUSED
                                          for no accepted presentation context, MN_ERR_NETWORK); 0 if sent */
    char *detail;              /* why not sent; may be NULL */
} mn_scu_result;

/* Send files in one association (more when there are over 128 presentation contexts); one result
 * per input path, in order. Proposes exactly the SOP classes and transfer syntaxes of the files
 * (plus uncompressed ones as allowed by `decompression`). Returns MN_OK when every file was
 * attempted; per-instance outcomes are in the results, which are filled even when the call fails
 * (MN_ERR_NETWORK, MN_ERR_REFUSED, MN_ERR_TIMEOUT for the association). Free the results with
 * mn_scu_results_free. */
mn_status mn_scu_send(const mn_scu_config *config, const char *const *paths, size_t path_count, mn_scu_result **results,
                      size_t *result_count, mn_error *err);

void mn_scu_results_free(mn_scu_result *results, size_t count);

/* C-ECHO a peer (PS3.7 9.1.5). Errors: MN_ERR_REFUSED (association rejected), MN_ERR_NETWORK,
 * MN_ERR_TIMEOUT. */
mn_status mn_scu_echo(const mn_scu_config *config, mn_error *err);

/* A TLS byte stream to a non-DICOM peer (the audit trail's syslog receiver, RFC 5425), with the
 * same policy as DICOM TLS above: BCP 195 non-downgrading profile, the peer's certificate chained
 * to config->ca_file and carrying `server_name` (DNS name or IP address; NULL or "": `host`),
 * our certificate when the peer wants mutual authentication. Connecting and the handshake give
 * up after timeout_ms. Errors: MN_ERR_NETWORK (cannot connect), MN_ERR_TLS (handshake or
 * certificate, with OpenSSL's reason), MN_ERR_TIMEOUT, MN_ERR_ARGUMENT. Not thread-safe: one
 * writer at a time. */
typedef struct mn_tls_stream mn_tls_stream;

mn_status mn_tls_stream_open(const char *host, uint16_t port, const mn_tls_config *config, const char *server_name,
                             int32_t timeout_ms, mn_tls_stream **out, mn_error *err);

/* Writes all `count` bytes; MN_ERR_NETWORK when the peer has gone (the stream is then unusable;
 * SIGPIPE is never raised). */
mn_status mn_tls_stream_write(mn_tls_stream *stream, const void *bytes, size_t count, mn_error *err);

/* Sends the TLS close_notify and closes the socket. NULL is allowed. */
void mn_tls_stream_close(mn_tls_stream *stream);

#ifdef __cplusplus
}
#endif

#endif /* MAMBANODE_CDICOM_NETWORK_H */
