import NIOCore

extension ChannelHandlerContext {
    /// Closes (`mode`: both ways, or only the output for a half-close) once everything written
    /// before is on the wire: an empty write is flushed and the close follows its completion.
    func close(afterFlushing mode: CloseMode = .all) {
        let written = eventLoop.makePromise(of: Void.self)
        writeAndFlush(NIOAny(ByteBuffer()), promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in self.close(mode: mode, promise: nil) }
    }
}
