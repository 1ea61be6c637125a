/**
 * @localpush/server/testing — test doubles for code that talks to localpush's peers, kept out of the
 * library's main entry: a local APNs (HTTP/2) test peer that validates requests as Apple does, and a
 * client for the SimplePush gateway that speaks the sample app's wire protocol.
 */
export * from './apns/test-peer.js';
export * from './simplepush/test-client.js';
