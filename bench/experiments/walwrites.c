// Experiment, not part of Oriole: what do SQLite's two writes per WAL
// frame (a 24-byte header, then the 4 KiB page) cost the kernel, against
// the same frames written at once? 2,000 "commits" of 200 frames each,
// every commit followed by fdatasync, the file reused from its start
// every 10 commits as SQLite reuses its WAL after a checkpoint. Prints
// the process's CPU per frame. docs/benchmarks.md, twenty-fifth pass.
//
//   gcc -O2 -o /tmp/walwrites bench/experiments/walwrites.c
//   /tmp/walwrites 0      # two writes per frame, over the same file
//   /tmp/walwrites 1      # one write per commit
//   /tmp/walwrites 0 x    # the same, truncating every 10 commits (a
//   /tmp/walwrites 1 x    #   file that grows)
//
// It writes /tmp/walwrites.wal (about 8 MB).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
static double cpu(){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec*1e6+t.tv_nsec/1e3;}
int main(int argc,char**argv){
  if(argc<2){ fprintf(stderr,"usage: %s 0|1 [x]\n",argv[0]); return 2; }
  int mode=atoi(argv[1]); int commits=2000, frames=200;
  char hdr[24]; char page[4096]; memset(hdr,1,24); memset(page,2,4096);
  char *buf=malloc(frames*4120);
  int fd=open("/tmp/walwrites.wal",O_RDWR|O_CREAT|O_TRUNC,0600);
  double c0=cpu();
  for(int c=0;c<commits;c++){
    off_t off=(c%10)*(off_t)frames*4120; /* restart like a WAL every 10 commits */
    if(c%10==0 && argc>2) ftruncate(fd,0);
    if(mode==0){ for(int f=0;f<frames;f++){ pwrite(fd,hdr,24,off); off+=24; pwrite(fd,page,4096,off); off+=4096; } }
    else { char*p=buf; for(int f=0;f<frames;f++){ memcpy(p,hdr,24);p+=24;memcpy(p,page,4096);p+=4096;} pwrite(fd,buf,p-buf,off); }
    fdatasync(fd);
  }
  double c1=cpu();
  printf("mode %d: cpu per frame %.2f us\n",mode,(c1-c0)/(commits*frames));
}
