import FerryTestKit

/// The one config text both Envoy and Ferry run in the differential tests. Only the ports of
/// the upstreams and the access log path are filled in; listeners and admin use port 0.
///
/// Routes: `/direct` (direct_response), `/redirect`, `/rewrite/` (prefix_rewrite), `/headers`
/// (request and response header add/remove), `/split` (weighted 80/20 over `echo` and
/// `echo_b`), `/dead` (connect failure), `/slow` (0.5 s route timeout in front of a 3 s
/// upstream delay), `/echo`, `/status/`, `/bytes/`, `/stream/`; anything else has no route and
/// gets the local_reply_config body.
enum DifferentialConfig {
    static func yaml(echo: Int, echoB: Int, dead: Int, accessLog: String) -> String {
        """
        admin:
          address: {socket_address: {address: 127.0.0.1, port_value: 0}}
        static_resources:
          listeners:
          - name: main
            address: {socket_address: {address: 127.0.0.1, port_value: 0}}
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": \(TestConfig.hcmType)
                  stat_prefix: diff
                  access_log:
                  - name: envoy.access_loggers.file
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                      path: \(accessLog)
                  local_reply_config:
                    mappers:
                    - filter:
                        status_code_filter:
                          comparison: {op: EQ, value: {default_value: 404, runtime_key: diff.no_route_code}}
                      body: {inline_string: "no route for this path\n"}
                      body_format_override:
                        text_format_source: {inline_string: "not found: %LOCAL_REPLY_BODY%"}
                        content_type: "text/plain; charset=UTF-8"
                  route_config:
                    name: diff_routes
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                      - match: {path: "/direct"}
                        direct_response: {status: 200, body: {inline_string: "direct body\n"}}
                      - match: {path: "/redirect"}
                        redirect: {path_redirect: "/elsewhere", response_code: FOUND}
                      - match: {prefix: "/rewrite/"}
                        route: {cluster: echo, prefix_rewrite: "/rewritten/"}
                      - match: {prefix: "/headers"}
                        route: {cluster: echo}
                        request_headers_to_add:
                        - header: {key: x-added, value: by-proxy}
                        request_headers_to_remove: [x-remove-me]
                        response_headers_to_add:
                        - header: {key: x-response-added, value: by-proxy}
                        response_headers_to_remove: [x-echo-name]
                      - match: {prefix: "/split"}
                        route:
                          weighted_clusters:
                            clusters:
                            - {name: echo, weight: 80}
                            - {name: echo_b, weight: 20}
                      - match: {prefix: "/dead"}
                        route: {cluster: dead}
                      - match: {prefix: "/slow"}
                        route: {cluster: echo, timeout: 0.5s, prefix_rewrite: "/delay/3000"}
                      - match: {prefix: "/echo"}
                        route: {cluster: echo}
                      - match: {prefix: "/status/"}
                        route: {cluster: echo}
                      - match: {prefix: "/bytes/"}
                        route: {cluster: echo}
                      - match: {prefix: "/stream/"}
                        route: {cluster: echo}
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": \(TestConfig.routerType)
          clusters:
          - name: echo
            type: STATIC
            connect_timeout: 1s
            load_assignment:
              cluster_name: echo
              endpoints:
              - lb_endpoints:
                - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(echo)}}}
          - name: echo_b
            type: STATIC
            connect_timeout: 1s
            load_assignment:
              cluster_name: echo_b
              endpoints:
              - lb_endpoints:
                - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(echoB)}}}
          - name: dead
            type: STATIC
            connect_timeout: 1s
            load_assignment:
              cluster_name: dead
              endpoints:
              - lb_endpoints:
                - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(dead)}}}

        """
    }
}
