#include <stdio.h>
#include <string.h>
#include <time.h>

char buf[4096];
char *file_path="./trace.log";

#define TIME_0  (1709809830-165441-4)

struct info_st {
        int second;
        int reclaim_sum;
        int low_reclaim_sum;
        int count;
        int reclaim_count_arr[32];
};
struct info_st info_st_arr[128];

void handle_each_line(char *buf, size_t buf_size)
{
        char comm_pid[128];
        int second;
        int cpu;
        int tmp1;
        int ret=0;

        time_t timestamp;
        char time_str[80];
        struct tm *local_time = NULL;
        int i = 0;
        int reclaim_num;

        ret = sscanf(buf, "%s%*[ ][%d]%*[^0-9]%d.%d: mm_vmscan_memcg_reclaim_end: nr_reclaimed=%d", comm_pid, &cpu, &second,&tmp1, &reclaim_num);
        if (ret != 5) {
                return;
        }
        //printf("%s [%d] %d.%d: %d\n", comm_pid, cpu, second, tmp1, reclaim_num);
        if (info_st_arr[cpu].second !=0 && info_st_arr[cpu].second != second) {
                timestamp=info_st_arr[cpu].second+TIME_0;
                local_time = localtime(&timestamp);
                strftime(time_str, sizeof(time_str), "%Y-%m-%d %H:%M:%S", local_time);

                printf("cpu[%3d] second[%d] time[%s] average[%4d] LOW [%4d] ALL[%4d]",
                        cpu,
                        info_st_arr[cpu].second,
                        time_str,
                        info_st_arr[cpu].reclaim_sum / info_st_arr[cpu].count,
                        info_st_arr[cpu].low_reclaim_sum,
                        info_st_arr[cpu].count);
                printf("  RECLAIM NUM COUNT :");
                for (i = 0; i < 32; i++) {
                        if (info_st_arr[cpu].reclaim_count_arr[i]) {
                                printf(" [%2d](%3d)", i, info_st_arr[cpu].reclaim_count_arr[i]);
                        }
                }
                printf("\n");
                info_st_arr[cpu].second = second;
                info_st_arr[cpu].reclaim_sum = 0;
                info_st_arr[cpu].low_reclaim_sum = 0;
                info_st_arr[cpu].count = 0;
                memset(info_st_arr[cpu].reclaim_count_arr, 0, sizeof(info_st_arr[cpu].reclaim_count_arr));
        }

        if (info_st_arr[cpu].second == 0) {
                info_st_arr[cpu].second = second;
        }

        info_st_arr[cpu].reclaim_sum += reclaim_num;
        if (reclaim_num < 32) {
                info_st_arr[cpu].low_reclaim_sum++;
                info_st_arr[cpu].reclaim_count_arr[reclaim_num]++;
        } else {
                info_st_arr[cpu].reclaim_count_arr[31]++;
        }
        info_st_arr[cpu].count++;
}

int main()
{
        FILE *fp;
        fp = fopen(file_path, "ro");
        if (!fp) {
                printf("read file error\n");
                return -1;
        }

        while(fgets(buf, sizeof(buf), fp)) {
                handle_each_line(buf, sizeof(buf));
        }
}
