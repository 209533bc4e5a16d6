package workercmd

import (
	"testing"

	"github.com/cipurge/cipurge/internal/config"
	"github.com/cipurge/cipurge/internal/defaults"
	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/worker"
)

// TestEnvironmentMapsToTheWorker: with no variable set, the worker built from the environment runs
// with the same settings as a worker.Config that names only the settings whose zero means
// something (the rate, retries, resends, cooldown, status checks): both take every other default
// from internal/defaults, so a setting that Config.Worker forgot to pass would show here.
func TestEnvironmentMapsToTheWorker(t *testing.T) {
	cfg, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Worker().WithDefaults()
	want := worker.Config{Limit: store.Limit{Rate: defaults.Rate, Burst: defaults.Burst}, PrefixLimit: store.Limit{Rate: defaults.PrefixRate},
		MaxRetry:   defaults.MaxRetry,
		MaxResends: defaults.MaxResends, AllCooldown: defaults.AllCooldown, Confirm: defaults.Confirm}.WithDefaults()
	if got != want {
		t.Errorf("the environment's defaults differ from the worker's:\n env    %+v\n worker %+v", got, want)
	}
	// A zero that means something in the environment means the same to the worker: no shim between.
	cfg, err = config.Load([]string{"PURGE_MAX_RETRY=0", "PURGE_MAX_RESENDS=0", "PURGE_ALL_COOLDOWN=0", "PURGE_RATE=0", "PURGE_PREFIX_RATE=0"})
	if err != nil {
		t.Fatal(err)
	}
	z := cfg.Worker().WithDefaults()
	if z.MaxRetry != 0 || z.MaxResends != 0 || z.AllCooldown != 0 || z.Limit.Rate != 0 || z.PrefixLimit.Rate != 0 {
		t.Errorf("variables set to 0: retries %d, resends %d, cooldown %s, rate %v; want all 0", z.MaxRetry, z.MaxResends, z.AllCooldown, z.Limit.Rate)
	}
}
