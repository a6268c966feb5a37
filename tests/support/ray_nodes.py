"""How the tests' Ray nodes are started: one CPU each, on 127.0.0.1, no dashboard, a small object store."""
NODE = {"num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1",
        "object_store_memory": 100 * 2**20}
