package batcher_test

import (
	"fmt"
	"testing"

	"jobs/internal/batcher"
)

func TestSplitKeepsOrderAndBothBounds(t *testing.T) {
	t.Parallel()
	size := func(n int) int { return n }
	for _, tc := range []struct {
		items              []int
		maxItems, maxBytes int
		want               string
	}{
		{nil, 3, 10, "[]"},
		{[]int{1, 2, 3, 4, 5}, 2, 100, "[[1 2] [3 4] [5]]"},
		{[]int{4, 4, 4, 1}, 10, 8, "[[4 4] [4 1]]"},
		{[]int{20, 1, 30}, 10, 8, "[[20] [1] [30]]"}, // over the byte bound: alone
		{[]int{1, 1, 1}, 5, 8, "[[1 1 1]]"},
	} {
		if got := fmt.Sprint(batcher.Split(tc.items, tc.maxItems, tc.maxBytes, size)); got != tc.want {
			t.Errorf("Split(%v, %d, %d) = %s, want %s", tc.items, tc.maxItems, tc.maxBytes, got, tc.want)
		}
	}
}
