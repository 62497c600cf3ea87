"""Runs cloud-init's own DigitalOcean datasource (cloud-init 22.4.2 from the lab's tools image) against a
metadata URL and prints what it makes of it as JSON. Only the two hardware probes are replaced:
DMI (vendor "DigitalOcean", serial = droplet id) and the sysfs MAC table, which a test host lacks.
argv: metadata URL, droplet id, JSON {mac: nic name}.
"""
import json, sys
from cloudinit import helpers, net as cloudnet
from cloudinit.sources import DataSourceDigitalOcean as ds_mod
import cloudinit.sources.helpers.digitalocean as do_helper
url, droplet_id, macs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
do_helper.read_sysinfo = lambda: (True, droplet_id)
cloudnet.get_interfaces_by_mac = lambda *a, **k: macs
sys_cfg = {"datasource": {"DigitalOcean": {"metadata_url": url, "use_ip4LL": False, "retries": 1}}}
ds = ds_mod.DataSourceDigitalOcean(sys_cfg, None, helpers.Paths({}))
ok = ds._get_data()
print(json.dumps({"ok": ok, "instance_id": ds.get_instance_id(), "hostname": ds.metadata["local-hostname"],
  "public_keys": ds.get_public_ssh_keys(), "az": ds.availability_zone, "userdata": ds.userdata_raw,
  "vendordata": ds.vendordata_raw, "network": ds.network_config}))
