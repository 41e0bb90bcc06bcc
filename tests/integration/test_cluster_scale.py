"""Live scaling under load: instances removed are drained before they stop,
instances added get traffic once ready; NODE_APP_INSTANCE is the lowest
free index and stays with its instance; increment_var counts from it."""
from clusterapp import answering, listeners, live_pids, start_node
from conftest import free_port
from loadgen import Load, request


def instances(corral):
    return {p["pm_id"]: (p["instance"], p["pid"]) for p in corral.procs("web")}


def test_scale_4_2_6_under_load(corral, tmp_path):
    port = free_port()
    start_node(corral, tmp_path, port, 4, args=("--increment-var", "INCR"),
               env={"INCR": "8000"})
    first = instances(corral)
    assert sorted(i for i, _ in first.values()) == [0, 1, 2, 3]
    with Load(port) as load:
        load.wait_more(100)
        corral.ok("scale", "web", "2")
        # The two highest indexes went; the others kept pid and index.
        after_down = instances(corral)
        assert sorted(i for i, _ in after_down.values()) == [0, 1]
        assert all(first[k] == v for k, v in after_down.items())
        load.wait_more(100)
        corral.ok("scale", "web", "6")
        corral.wait_status("web", "online", count=6)
        after_up = instances(corral)
        assert sorted(i for i, _ in after_up.values()) == [0, 1, 2, 3, 4, 5]
        assert all(after_up[k] == v for k, v in after_down.items())
        load.wait_more(300)
    assert load.failures == [], load.failures[:5]
    # Removed instances were drained: nothing was left in their queues
    # (the relay for leftovers was not needed).
    assert "queued connection" not in corral.daemon_log()
    pids = live_pids(corral, "web")
    assert len(pids) == 6
    # Every instance serves, and increment_var is 8000 + its index.
    seen = {}
    for _ in range(400):
        ans = request(port)
        seen[int(ans["pid"])] = (int(ans["instance"]), int(ans["incr"]))
        if len(seen) == 6:
            break
    assert set(seen) == pids
    assert all(incr == 8000 + idx for idx, incr in seen.values())
    (g,) = listeners(corral, "web")
    assert len(g["members"]) == 6 and g["size"] == 6


def test_scale_relative_and_index_reuse(corral, tmp_path):
    port = free_port()
    start_node(corral, tmp_path, port, 3)
    # Stop and delete the middle instance: its index becomes the lowest free.
    mid = corral.procs("web")[1]["pm_id"]
    corral.ok("delete", mid)
    assert sorted(p["instance"] for p in corral.procs("web")) == [0, 2]
    corral.ok("scale", "web", "+1")
    corral.wait_status("web", "online", count=3)
    assert sorted(p["instance"] for p in corral.procs("web")) == [0, 1, 2]
    # A restart keeps the index.
    before = {p["pm_id"]: p["instance"] for p in corral.procs("web")}
    corral.ok("restart", "web")
    assert {p["pm_id"]: p["instance"] for p in corral.procs("web")} == before
    corral.ok("scale", "web", "-2")
    assert [p["instance"] for p in corral.procs("web")] == [0]
    assert answering(port, 1) == live_pids(corral, "web")
    (g,) = listeners(corral, "web")
    assert len(g["members"]) == 1 and g["size"] == 1
