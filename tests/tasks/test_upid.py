from tasks.upid import Upid, new_upid


def test_format_is_proxmox_like() -> None:
    upid = Upid("pve1", 0x1A2B, 0x3C, 0x65F00000, "qmstart", "100", "root@pam")
    assert str(upid) == "UPID:pve1:00001A2B:0000003C:65F00000:qmstart:100:root@pam:"
    assert Upid.parse(str(upid)) == upid


def test_new_upids_are_unique() -> None:
    ids = {new_upid("pve1", "start", "100", "root@pam") for _ in range(1000)}
    assert len(ids) == 1000
