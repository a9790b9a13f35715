import NIOCore

/// What a filter may change about the request besides its head (`stream.request`, editable in
/// `decodeHeaders`): the body, chunk by chunk or whole, and the route that the new head selects.
extension ActiveStream {
    /// From now on `filter.decodeData` sees every request body chunk before the router (and
    /// before `bufferRequestBody` keeps it), and may rewrite it. Called from the filter's
    /// `decodeHeaders`. Chunks an earlier filter already holds (`bufferRequestBody`) pass
    /// through it at once, as Envoy hands a buffered body to the filters after the one that
    /// buffered it.
    func transformRequestBody(by filter: StreamFilter) {
        guard !requestBodyFilters.contains(where: { $0 === filter }) else { return }
        requestBodyFilters.append(filter)
        guard let buffer = requestBodyBuffer, !buffer.chunks.isEmpty else { return }
        buffer.transformChunks { chunk, last in
            if !finished { filter.decodeData(self, &chunk, endStream: requestEnded && last) }
        }
    }

    /// The body a filter sends upstream will not have the client's length: `content-length`
    /// goes and the upstream request is sent chunked (HTTP/1; an HTTP/2 upstream frames it
    /// itself).
    func requestBodyLengthChanges() {
        request.headers.remove("content-length")
        if !request.headers.contains("transfer-encoding") { request.headers.addLowercased("transfer-encoding", "chunked") }
    }

    /// Replaces the whole request body a filter holds (`bufferRequestBody`, after it ended) with
    /// `body`, and frames the upstream request by its length. Retries send the new body too.
    func replaceRequestBody(_ body: ByteBuffer) {
        guard let buffer = requestBodyBuffer else {
            assertionFailure("replaceRequestBody needs bufferRequestBody first")
            return
        }
        buffer.replace(with: body)
        request.headers.remove("transfer-encoding")
        request.headers.set("content-length", String(body.readableBytes))
    }

    /// A filter changed what the route depends on (path, method, headers): choose the route
    /// again, as Envoy's `clearRouteCache`. The filters of this stream stay as they are.
    func clearRouteCache() {
        virtualHost = hcm.routeTable.virtualHost(for: request.authority)
        route = virtualHost?.route(for: request)
    }
}
