/* new[] of a type with a destructor, released with delete (not delete[]). */
#include <cstdio>
#include <cstdlib>
struct Item {
    char data[24];
    ~Item() { data[0] = 0; }
};
extern "C" {
#include "misuse.h"
}
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    Item *items = new Item[n / 24 + 1];
    sink(items);
    delete items;
    return carry_on(n);
}
