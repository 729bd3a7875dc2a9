import HeraldCore
import NIOCore

extension Authenticator {
    /// Calls `body` on `loop` with the principal of `token`, or why there is none: at once
    /// when that is known (no authentication, a token seen before), else once the token is
    /// verified. For the handlers that answer on their event loop (the fast path, the
    /// WebSocket upgrade).
    func withPrincipal(_ token: String?, on loop: any EventLoop, _ body: @escaping (Result<Principal, HeraldError>) -> Void) {
        if let known = self.cached(token) { return body(known) }
        let body = NIOLoopBound(body, eventLoop: loop)
        Task {
            let result: Result<Principal, HeraldError>
            do throws(HeraldError) {
                result = .success(try await self.authenticate(token))
            } catch {
                result = .failure(error)
            }
            loop.execute { body.value(result) }
        }
    }
}
