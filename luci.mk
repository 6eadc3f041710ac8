# luci-app-natnow includes ../../luci.mk, as the apps in openwrt/luci do.
# With natnow's repository as a feed (src-git or src-link), that is this
# file: it includes LuCI's own luci.mk from whichever feed holds it, so the
# LuCI feed need not be named "luci".
NATNOW_LUCI_MK:=$(realpath $(lastword $(MAKEFILE_LIST)))
LUCI_MK:=$(firstword $(filter-out $(NATNOW_LUCI_MK),$(realpath $(wildcard $(TOPDIR)/feeds/*/luci.mk))))
ifeq ($(LUCI_MK),)
  $(error luci-app-natnow: no feed has LuCI's luci.mk; add openwrt/luci to feeds.conf)
endif
include $(LUCI_MK)
